"""``Module`` and ``Parameter``: the containers a training script is written against."""
from __future__ import annotations

from collections import OrderedDict, namedtuple

from .. import backend
from ..tensor import Tensor, conform_array
from .hooks import ModuleHooks

__all__ = ["Parameter", "Module", "IncompatibleKeys"]

#: What ``load_state_dict`` returns, as PyTorch's: the keys the module has that the state dict
#: lacked, and the keys of the state dict that the module does not have.
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A leaf tensor that a Module registers as trainable (``requires_grad=True``)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.array
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: register Parameters and sub-Modules as attributes,
    implement ``forward``, call the module to run it."""

    _hooks = None   # a ModuleHooks once a hook is registered: calling costs one test without

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_hooks", None)   # an instance attribute: the quickest test

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 "before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer {name!r} of "
                                f"{type(self).__name__} (a Tensor or None)")
            self._buffers[name] = value
        elif isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            self._modules[name] = value
        elif name in params and value is None:
            params[name] = None
        else:
            params.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """Keep ``tensor`` (a Tensor, or None) as state that is not a parameter: a running
        statistic, a class weight. Buffers are moved by ``.to``, listed by ``named_buffers`` and,
        when ``persistent``, saved in ``state_dict``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: buffer name must be a non-empty string without '.', "
                           f"got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"register_buffer: attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if self._hooks is None:
            return self.forward(*args, **kwargs)
        return self._hooks.call(self, args, kwargs)

    # ------------------------------------------------------------------ hooks
    def _add_hook(self, kind, hook):
        if self._hooks is None:
            object.__setattr__(self, "_hooks", ModuleHooks())
        return self._hooks.add(kind, hook)

    def register_forward_pre_hook(self, hook):
        """``hook(module, args) -> None | args`` runs before each ``forward`` (see nn.hooks)."""
        return self._add_hook("forward_pre", hook)

    def register_forward_hook(self, hook):
        """``hook(module, args, output) -> None | output`` runs after each ``forward``."""
        return self._add_hook("forward", hook)

    def register_full_backward_pre_hook(self, hook):
        """``hook(module, grad_output) -> None | grad_output`` runs when the gradients of the
        module's outputs are known, before they flow into it."""
        return self._add_hook("backward_pre", hook)

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output) -> None | grad_input`` runs when the
        gradients of the module's inputs are known, before they flow further back."""
        return self._add_hook("backward", hook)

    def has_hooks(self):
        """Whether some hook is registered on this module (itself, not its children)."""
        return bool(self._hooks)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, mod in self._modules.items():
            yield from mod.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def get_submodule(self, target):
        """The submodule at the dotted path ``target`` ('' is the module itself)."""
        mod = self
        for part in target.split(".") if target else ():
            if part not in mod._modules:
                raise AttributeError(f"get_submodule: {type(mod).__name__} has no submodule "
                                     f"{part!r} (looking up {target!r})")
            mod = mod._modules[part]
        return mod

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def named_buffers(self, prefix="", recurse=True):
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_parameters(self, prefix=""):
        seen = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (``set_to_none``), or fill it with zeros in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        """Switch gradient tracking of every parameter on or off (freezing); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    # ------------------------------------------------------------------ devices
    def to(self, device=None, dtype=None):
        """Move (and/or cast) every parameter and buffer in place (a cast changes floating-point
        ones only); returns self."""
        dev = None if device is None else backend.resolve_device(device, check=True)
        for p in (*self.parameters(), *self.buffers()):
            data = p.array
            if dev is not None and p.device is not dev:
                data = backend.to_device(data, dev)
            if dtype is not None and data.dtype.kind == "f":
                data = data.astype(dtype, copy=False)
            if data is not p.array:
                p.data = data
            if p.grad is not None:
                p.grad = p.grad.to(p.device, dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    # ------------------------------------------------------------------ state
    def _state_tensors(self):
        """Name -> tensor of what ``state_dict`` holds: each module's parameters, then its
        persistent buffers, module by module (PyTorch's order)."""
        out, seen = OrderedDict(), set()
        for mod_name, mod in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    out[dot + name] = p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers:
                    out[dot + name] = b
        return out

    def state_dict(self):
        """Name -> detached Tensor sharing the data of each parameter and persistent buffer."""
        return OrderedDict((name, t.detach()) for name, t in self._state_tensors().items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (Tensors or NumPy/CuPy arrays) into the parameters
        and persistent buffers, keeping each one's device and dtype. Returns
        ``IncompatibleKeys(missing_keys, unexpected_keys)``; with ``strict`` either being
        non-empty is a RuntimeError listing both. Shapes must match. Nothing is changed when
        any check fails."""
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                               f"missing keys {missing}, unexpected keys {unexpected}")
        staged = [(t, conform_array(state_dict[name], t, f"load_state_dict: {name!r} of the state dict"))
                  for name, t in own.items() if name in state_dict]
        for t, value in staged:
            t.data = value
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(mod).replace("\n", "\n  ") for name, mod in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
