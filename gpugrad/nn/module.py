"""``Module`` and ``Parameter``: the containers a training script is written against."""
from __future__ import annotations

from collections import OrderedDict

from .. import backend
from ..tensor import Tensor, conform_array
from .hooks import ModuleHooks

__all__ = ["Parameter", "Module"]


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
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            self._modules[name] = value
        elif name in params and value is None:
            params[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer {name!r} of "
                                f"{type(self).__name__} (a Tensor or None)")
            self._buffers[name] = value
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

    def children(self):
        return iter(self._modules.values())

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

    def register_buffer(self, name, tensor, persistent=True):
        """PyTorch's: ``tensor`` (a Tensor, or None) kept as attribute ``name``, not a parameter;
        moved by ``to()`` and, when ``persistent``, part of ``state_dict()``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: a buffer name must be a non-empty string without '.', got {name!r}")
        if (hasattr(self, name) and name not in self._buffers) or name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: attribute {name!r} of {type(self).__name__} already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._buffers[name] = tensor
        (self._non_persistent_buffers.discard if persistent else self._non_persistent_buffers.add)(name)
        object.__setattr__(self, name, tensor)

    def named_buffers(self, prefix="", recurse=True):
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _named_state(self):
        """(name, tensor) of every parameter and persistent buffer, module by module."""
        seen = set()
        for mod_name, mod in self.named_modules():
            persistent = ((n, b) for n, b in mod._buffers.items() if n not in mod._non_persistent_buffers)
            for name, t in (*mod._parameters.items(), *persistent):
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{mod_name}.{name}" if mod_name else name), t

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

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
    def state_dict(self):
        """Name -> detached Tensor sharing the data, of every parameter and persistent buffer."""
        return OrderedDict((name, t.detach()) for name, t in self._named_state())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (Tensors or NumPy/CuPy arrays) into the parameters and
        persistent buffers, keeping each one's device and dtype. Shapes must match; with
        ``strict`` the keys must match exactly. Nothing is changed when any check fails."""
        own = dict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        staged = [(p, conform_array(state_dict[name], p, f"load_state_dict: {name!r} of the state dict"))
                  for name, p in own.items() if name in state_dict]
        for p, value in staged:
            p.data = value
        return missing, unexpected

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(mod).replace("\n", "\n  ") for name, mod in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
