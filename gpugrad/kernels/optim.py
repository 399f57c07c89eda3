"""Fused, in-place optimizer updates with PyTorch's rules (SGD, Adam / AdamW, RMSprop, Adagrad):
the CUDA kernels of ``kernels/optim.cu`` (arithmetic in ``optim.cuh``) and their NumPy twins.
Scalars come from Python, so an update never waits on the device.

Every family is one ``gg::<family>_update(p, g, <state>..., <scalars>..., <flags>...)`` in
optim.cuh, with the same arguments here: a vectorised RawKernel ``<family>_step_f32/f64`` for
contiguous aligned float32/float64 arrays, an ElementwiseKernel per set of state arrays the
options use (``adam_step`` / ``adam_step_amsgrad``, ...) for strided views and float16, and the
NumPy twin ``<family>_np`` (:mod:`.optim_twins`) with the kernel's argument order.

Inside :func:`multi_tensor_updates` (``Optimizer.step`` runs its updates there) the updates the
RawKernels take are not launched one by one: they are queued, and launched when the block ends
as ``<family>_multi_f32/f64`` kernels, one launch for up to ``LIST_MAX`` parameters that share
a dtype and the update's scalars (PyTorch's multi_tensor_apply does the same): a step of a
six-parameter MLP is one optimizer launch, not six.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import threading
from typing import Callable, NamedTuple

import numpy as np

from .. import backend
from . import loader
from .loader import (BLOCK_SIZE, RAW_SCALAR, check_floating, define_elementwise, define_raw,
                     raw_suffix)
from .optim_twins import adagrad_np, adam_np, rmsprop_np, sgd_np

__all__ = ["sgd_step", "adam_step", "adam_step_dev", "rmsprop_step", "adagrad_step",
           "multi_tensor_updates",
           "tensor_list_dtype", "tensor_list_record", "UPDATE_FAMILIES", "ELEMENTWISE_UPDATES",
           "LIST_MAX", "LIST_CHUNK"]

#: gg::LIST_MAX and gg::LIST_CHUNK of optim.cuh: parameters per multi-tensor launch, and the
#: elements each of its blocks updates.
LIST_MAX = 48
LIST_CHUNK = 16384
COUNT_BLOCK = 64   # the threads of a step-count kernel: one per parameter of a TensorList
_MAX_BLOCKS = 2 ** 31 - 1


class UpdateFamily(NamedTuple):
    """One update rule: its state arrays (after p, in kernel order), the optional ones with the
    tag their ElementwiseKernel variant carries, its scalars and flags, and its NumPy twin."""
    state: tuple
    optional: dict
    scalars: tuple
    flags: tuple
    twin: Callable


#: family ('sgd_step', ...) -> UpdateFamily
UPDATE_FAMILIES: dict[str, UpdateFamily] = {}
#: ElementwiseKernel name -> (family, the state arrays it updates)
ELEMENTWISE_UPDATES: dict[str, tuple] = {}


def _define_update(family, function, state, optional, scalars, flags, twin):
    """Register family's RawKernels and one ElementwiseKernel per subset of its optional state
    arrays (an absent one is a dummy accumulator the arithmetic never touches)."""
    UPDATE_FAMILIES[family] = UpdateFamily(tuple(state), dict(optional), tuple(scalars),
                                           tuple(flags), twin)
    define_raw("optim.cu", family, family + "_multi")
    ins = ", ".join(["T g", *(f"float64 {s}" for s in scalars), *(f"int32 {f}" for f in flags)])
    args = ", ".join(["p_", "(A)g", *(f"{a}_" for a in state), *(f"(A){s}" for s in scalars),
                      *(f"{f} != 0" for f in flags)])
    for k in range(len(optional) + 1):
        for present in itertools.combinations(optional, k):
            arrays = [a for a in state if a not in optional or a in present]
            name = family + "".join(f"_{optional[a]}" for a in present)
            decl = ", ".join(["A p_ = (A)p", *(f"{a}_ = " + (f"(A){a}" if a in arrays else "A(0)")
                                               for a in state)])
            store = "; ".join(["p = (T)p_", *(f"{a} = (T){a}_" for a in arrays)])
            define_elementwise(name, ins, ", ".join(["T p", *(f"T {a}" for a in arrays)]),
                               f"{decl}; gg::{function}({args}); {store}", "optim.cuh")
            ELEMENTWISE_UPDATES[name] = (family, tuple(arrays))


def _update(family, p, g, state, scalars, flags):
    """Apply ``family``'s update in place: the twin on NumPy arrays; on CuPy arrays the
    vectorised RawKernel when every array allows it, else the ElementwiseKernel."""
    spec = UPDATE_FAMILIES[family]
    arrays = [state.get(name) for name in spec.state]
    used = [a for a in arrays if a is not None]
    if any(a is None and name not in spec.optional for name, a in zip(spec.state, arrays)) or any(
            a.shape != p.shape for a in (g, *used)):
        described = ", ".join(f"{name} {None if a is None else a.shape}"
                              for name, a in zip(spec.state, arrays))
        raise ValueError(f"{family}: every array needs the parameter's shape {p.shape} "
                         f"(g {g.shape}, {described})")
    if backend.array_module(p) is np:
        spec.twin(p, g, *arrays, *scalars, *flags)
        return None
    suffix = raw_suffix(p, g, *used)
    if suffix is None:
        check_floating(family, p, g, *used)
        name = family + "".join(f"_{tag}" for a, tag in spec.optional.items() if state.get(a) is not None)
        loader.launch_elementwise(name, g, *(float(s) for s in scalars),
                                  *(int(bool(f)) for f in flags), p, *used)
        return None
    T = RAW_SCALAR[suffix]
    n = p.size
    if not n:
        return None
    arrays = (p, g, *(p if a is None else a for a in arrays))
    scalars = tuple(T(s) for s in scalars)
    flags = tuple(np.int32(bool(f)) for f in flags)
    pending = _queue.pending
    if pending is not None:
        pending.setdefault((family, suffix, scalars, flags), []).append(arrays)
    else:
        loader.launch_flat(f"{family}_{suffix}", n, p.itemsize,
                           (*arrays, np.int64(n), *scalars, *flags))
    return None


# ----------------------------------------------------------------------------- multi-tensor

class _Queue(threading.local):
    """This thread's queued updates: a dict while inside multi_tensor_updates(), else None
    (the class attribute is every thread's starting value)."""
    pending = None


_queue = _Queue()


def tensor_list_dtype(depth: int) -> np.dtype:
    """The NumPy layout of ``gg::TensorList<depth>`` (optim.cuh): one record of it is passed
    to a multi-tensor kernel by value."""
    return np.dtype([("ptr", np.int64, (depth, LIST_MAX)), ("n", np.int64, (LIST_MAX,)),
                     ("first_block", np.int32, (LIST_MAX + 1,)), ("count", np.int32)], align=True)


@contextlib.contextmanager
def multi_tensor_updates():
    """Queue the CUDA updates of this block and launch them together when it ends: one
    ``<family>_multi`` launch per family, dtype and set of scalars for up to ``LIST_MAX``
    parameters (the updates of distinct parameters are independent, so their order does not
    matter). Updates of NumPy arrays, and of arrays the vectorised kernels do not take, run at
    once as before. Nested blocks launch with the outermost; if the block raises, the queued
    updates are dropped, so those parameters stay as they were."""
    if _queue.pending is not None:
        yield
        return
    _queue.pending = pending = {}
    try:
        yield
    finally:
        _queue.pending = None
    for (family, suffix, scalars, flags), entries in pending.items():
        for tensors, blocks in _tensor_lists(entries):
            _launch_list(family, suffix, tensors, blocks, scalars, flags)


def _tensor_lists(entries):
    """Split queued (p, g, state...) tuples into launches of at most LIST_MAX parameters and
    fewer than 2^31 blocks: yields (tensors, blocks) pairs."""
    tensors, blocks = [], 0
    for arrays in entries:
        need = -(-arrays[0].size // LIST_CHUNK)
        if tensors and (len(tensors) == LIST_MAX or blocks + need > _MAX_BLOCKS):
            yield tensors, blocks
            tensors, blocks = [], 0
        tensors.append(arrays)
        blocks += need
    if tensors:
        yield tensors, blocks


def tensor_list_record(pointers, sizes):
    """A one-element ``gg::TensorList<D>`` record naming len(sizes) <= LIST_MAX parameters:
    ``pointers[i]`` holds the D addresses of parameter i's arrays, ``sizes[i] > 0`` its element
    count. The launch needs ``record['first_block'][0, count]`` blocks."""
    count, depth = len(sizes), len(pointers[0])
    record = np.zeros(1, tensor_list_dtype(depth))
    record["ptr"][0, :, :count] = np.asarray(pointers, np.int64).T
    record["n"][0, :count] = sizes
    blocks = -(-np.asarray(sizes, np.int64) // LIST_CHUNK)
    record["first_block"][0, 1:count + 1] = np.cumsum(blocks)
    record["count"] = count
    return record


#: Families whose launch first counts a step kept on the device: the kernel that does it for a
#: TensorList (array 5 of each parameter is its one-element step count).
_COUNTS = {"adam_step_dev": "adam_count_list"}


def _launch_list(family, suffix, tensors, blocks, scalars, flags):
    record = tensor_list_record([[a.data.ptr for a in arrays] for arrays in tensors],
                                [arrays[0].size for arrays in tensors])
    if family in _COUNTS:
        loader.raw_kernel(f"{_COUNTS[family]}_{suffix}")((1,), (COUNT_BLOCK,), (record,))
    loader.raw_kernel(f"{family}_multi_{suffix}")((blocks,), (BLOCK_SIZE,),
                                                  (record, *scalars, *flags))


_define_update("sgd_step", "sgd_update", ["buf"], {"buf": "momentum"},
               ["lr", "momentum", "one_minus_dampening", "weight_decay"],
               ["use_momentum", "nesterov", "first_step", "maximize"], sgd_np)
_define_update("adam_step", "adam_update", ["m", "v", "v_max"], {"v_max": "amsgrad"},
               ["step_size", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2",
                "bias_correction2_sqrt", "eps", "weight_decay", "param_scale"],
               ["amsgrad", "maximize"], adam_np)
# capturable Adam (adam_step_dev): its step count on the device, no ElementwiseKernel variant
define_raw("optim.cu", "adam_step_dev", "adam_step_dev_multi", "adam_count", "adam_count_list")
_define_update("rmsprop_step", "rmsprop_update", ["square_avg", "grad_avg", "buf"],
               {"grad_avg": "centered", "buf": "momentum"},
               ["lr", "alpha", "one_minus_alpha", "eps", "weight_decay", "momentum"],
               ["centered", "use_momentum", "maximize"], rmsprop_np)
_define_update("adagrad_step", "adagrad_update", ["state_sum"], {},
               ["clr", "eps", "weight_decay"], ["maximize"], adagrad_np)


# ----------------------------------------------------------------------------- public updates

def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step,
             maximize=False):
    """One in-place SGD update of parameter p with gradient g (PyTorch's rule); returns None.

    ``g = -g`` if maximize; ``g = g + weight_decay * p``; with momentum, ``buf = g`` on the
    first step, else ``buf = momentum * buf + (1 - dampening) * g``, then
    ``g = g + momentum * buf`` (nesterov) or ``g = buf``; finally ``p -= lr * g``. p and buf
    are updated in place, g is not modified. buf may be None when momentum == 0.
    """
    use_momentum = momentum != 0
    if use_momentum and buf is None:
        raise ValueError("sgd_step: momentum needs a buffer (buf is None)")
    _update("sgd_step", p, g, {"buf": buf if use_momentum else None},
            (lr, momentum, 1.0 - dampening, weight_decay),
            (use_momentum, nesterov, first_step, maximize))


def _adam_decay(lr, weight_decay, decoupled):
    """(the L2 coefficient added to g, the factor p is scaled by): Adam's (wd, 1), AdamW's
    (0, 1 - lr·wd)."""
    return (0.0, 1.0 - lr * weight_decay) if decoupled else (weight_decay, 1.0)


def adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, *, v_max=None,
              decoupled_weight_decay=False, maximize=False):
    """One in-place Adam (or AdamW) update, PyTorch's rule; returns None.

    ``g = -g`` if maximize; Adam: ``g = g + weight_decay * p``; AdamW
    (``decoupled_weight_decay``): ``p = p * (1 - lr * weight_decay)`` instead;
    ``m = beta1 * m + (1 - beta1) * g``; ``v = beta2 * v + (1 - beta2) * g * g``; with
    amsgrad (``v_max`` given) ``v_max = max(v_max, v)`` replaces v below;
    ``p -= lr / (1 - beta1**step) * (m / (sqrt(v) / sqrt(1 - beta2**step) + eps))``.
    ``step`` is the 1-based number of this update. p, m, v, v_max are updated in place.
    """
    if step < 1:
        raise ValueError(f"adam_step: step counts from 1, got {step}")
    step_size = lr / (1.0 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
    l2, param_scale = _adam_decay(lr, weight_decay, decoupled_weight_decay)
    _update("adam_step", p, g, {"m": m, "v": v, "v_max": v_max},
            (step_size, beta1, 1.0 - beta1, beta2, 1.0 - beta2, bias_correction2_sqrt, eps, l2,
             param_scale), (v_max is not None, maximize))


def adam_step_dev(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, *, v_max=None,
                  decoupled_weight_decay=False, maximize=False):
    """Capturable Adam (or AdamW): :func:`adam_step` with the step count kept on the device, in
    ``step`` (a 0-d array of p's dtype beside p), which this counts (``step += 1``) before the
    update; the bias corrections are computed from it where the update runs, so a CUDA graph
    that captured this update replays every later step right (PyTorch's ``capturable=True``).
    On CUDA the arrays must be C-contiguous, 16-byte aligned float32 or float64 (TypeError
    otherwise); on NumPy arrays it is the count and then :func:`adam_step`."""
    if step.shape != () or step.dtype != p.dtype:
        raise ValueError(f"adam_step_dev: the step count must be a 0-d array of the parameter's dtype "
                         f"{p.dtype}, got shape {step.shape} and dtype {step.dtype}")
    if backend.array_module(p) is np:
        step += 1
        adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, int(step), v_max=v_max,
                  decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        return
    used = [a for a in (p, g, m, v, v_max) if a is not None]
    suffix = raw_suffix(*used)
    if suffix is None or not step.flags.c_contiguous or step.data.ptr % 16:
        layouts = ", ".join(f"{a.dtype}{'' if a.flags.c_contiguous else ' strided'}" for a in used)
        raise TypeError(f"adam_step_dev: capturable Adam on CUDA needs C-contiguous, 16-byte aligned "
                        f"float32 or float64 arrays of one dtype and shape, got {layouts}")
    T = RAW_SCALAR[suffix]
    l2, param_scale = _adam_decay(lr, weight_decay, decoupled_weight_decay)
    scalars = (np.float64(lr), np.float64(beta1), np.float64(beta2),
               *(T(x) for x in (beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps, l2, param_scale)))
    flags = (np.int32(v_max is not None), np.int32(bool(maximize)))
    arrays = (p, g, m, v, p if v_max is None else v_max, step)
    pending = _queue.pending
    if pending is not None and p.size:
        pending.setdefault(("adam_step_dev", suffix, scalars, flags), []).append(arrays)
        return
    loader.raw_kernel(f"adam_count_{suffix}")((1,), (COUNT_BLOCK,), (step,))
    if p.size:
        loader.launch_flat(f"adam_step_dev_{suffix}", p.size, p.itemsize,
                           (*arrays, np.int64(p.size), *scalars, *flags))


def rmsprop_step(p, g, square_avg, lr, alpha, eps, weight_decay, momentum=0.0, *,
                 grad_avg=None, momentum_buffer=None, maximize=False):
    """One in-place RMSprop update, PyTorch's rule; returns None.

    ``g = -g`` if maximize; ``g = g + weight_decay * p``;
    ``square_avg = alpha * square_avg + (1 - alpha) * g * g``; centered (``grad_avg`` given):
    ``grad_avg = alpha * grad_avg + (1 - alpha) * g`` and
    ``avg = sqrt(square_avg - grad_avg**2) + eps``, else ``avg = sqrt(square_avg) + eps``;
    with momentum > 0 ``buf = momentum * buf + g / avg; p -= lr * buf``, else
    ``p -= lr * g / avg``. The state arrays are updated in place.
    """
    use_momentum = momentum > 0
    if use_momentum and momentum_buffer is None:
        raise ValueError("rmsprop_step: momentum needs a buffer (momentum_buffer is None)")
    _update("rmsprop_step", p, g, {"square_avg": square_avg, "grad_avg": grad_avg,
                                   "buf": momentum_buffer if use_momentum else None},
            (lr, alpha, 1.0 - alpha, eps, weight_decay, momentum),
            (grad_avg is not None, use_momentum, maximize))


def adagrad_step(p, g, state_sum, lr, lr_decay, eps, weight_decay, step, *, maximize=False):
    """One in-place Adagrad update, PyTorch's rule; returns None.

    ``g = -g`` if maximize; ``g = g + weight_decay * p``; ``state_sum += g * g``;
    ``p -= lr / (1 + (step - 1) * lr_decay) * g / (sqrt(state_sum) + eps)``, ``step`` 1-based.
    """
    if step < 1:
        raise ValueError(f"adagrad_step: step counts from 1, got {step}")
    clr = lr / (1 + (step - 1) * lr_decay)
    _update("adagrad_step", p, g, {"state_sum": state_sum}, (clr, eps, weight_decay), (maximize,))
