"""Kernels of the stand-in: RawModule / RawKernel and ElementwiseKernel.

RawKernels run the host-compiled .cuh arithmetic (the harness of tests/test_kernels_host.py,
found beside this package, never through an absolute path), after checking every argument
against the kernel's signature parsed from the kernels/*.cu source it was given. A pointer to
memory of another GPU is the illegal address it would be on a device. ElementwiseKernels check
their arguments against their in/out params and emulate the operation with the NumPy twins,
computed in the accumulation type.
"""
import ctypes
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import _capture, _state
from ._array import array_at, check_devices, ndarray
from ._functions import empty

STATS = _state.STATS
TESTS_DIR = Path(__file__).resolve().parents[2]

_HARNESS = None


def _harness():
    global _HARNESS
    if _HARNESS is None:
        if str(TESTS_DIR) not in sys.path:
            sys.path.insert(0, str(TESTS_DIR))
        import test_kernels_host as H
        from gpugrad import kernels as K
        tmp = tempfile.mkdtemp()
        src, lib = f"{tmp}/h.cpp", f"{tmp}/h.so"
        open(src, "w").write(H.HOST_HARNESS)
        subprocess.check_call(["g++", "-O2", "-shared", "-fPIC", "-ffp-contract=off", "-I",
                               str(K.KERNEL_DIR), src, "-o", lib])
        _HARNESS = H.HostKernels(ctypes.CDLL(lib))
    return _HARNESS


_SIG_RE = re.compile(r'extern "C" __global__ void __launch_bounds__\(256\)\s*(\w+)_##S\(([^)]*)\)')


def _signatures(code):
    flat = code.replace("\\\n", " ")
    sigs = {}
    for name, params in _SIG_RE.findall(flat):
        sigs[name] = [" ".join(p.split()[:-1]) for p in params.split(",")]
    return sigs


class RawModule:
    def __init__(self, code=None, options=(), **kw):
        STATS["raw_modules"] += 1
        assert not re.search(r"^\s*#\s*include\s*\"", code, re.M)
        self.sigs = _signatures(code)
        assert self.sigs, "no kernels parsed"
        self.options = options

    def get_function(self, name):
        base, suffix = name.rsplit("_", 1)
        assert base in self.sigs, (name, list(self.sigs))
        return RawKernel(name, base, suffix, self.sigs[base])


class RawKernel:
    def __init__(self, name, base, suffix, sig):
        self.name, self.base, self.suffix, self.sig = name, base, suffix, sig
        self.kernel = object()        # the "compiled function", made once

    def __call__(self, grid, block, args):
        T = np.float32 if self.suffix == "f32" else np.float64
        assert isinstance(grid, tuple) and isinstance(block, tuple)
        assert all(isinstance(v, int) and v >= 1 for v in grid + block), (grid, block)
        assert int(np.prod(block)) <= 256 and block[0] % 32 == 0, block
        assert grid[0] < 2 ** 31 and all(v <= 65535 for v in grid[1:])
        assert len(args) == len(self.sig), (self.name, len(args), self.sig)
        host_args = []
        for typ, a in zip(self.sig, args):
            if typ.startswith("gg::TensorList<"):   # a struct passed by value: CuPy takes a
                host_args.append(_tensor_list(self.name, typ, a, T))   # 1-element NumPy record
            elif typ.endswith("*"):
                assert isinstance(a, ndarray), (self.name, typ, type(a))
                want = np.int64 if "long long" in typ else np.float64 if "double" in typ else T
                assert a.dtype == want, (self.name, typ, a.dtype)
                assert a.flags.c_contiguous, (self.name, "non-contiguous pointer arg")
                if a._dev != _state.current_device():   # memory of another GPU
                    from .cuda.runtime import CUDARuntimeError, errorIllegalAddress
                    raise CUDARuntimeError(errorIllegalAddress)
                host_args.append(a._a)
            else:
                want = {"long long": np.int64, "int": np.int32, "T": T, "double": np.float64,
                        "unsigned int": np.uint32}[typ]
                assert type(a) is want, (self.name, typ, type(a))
                host_args.append(a.item())
        STATS["raw_launches"].append(self.name)
        if self.base.startswith("bias_act_fwd"):
            z, b, y, rows, cols, act = host_args
            pack = 16 // np.dtype(T).itemsize
            units = cols // pack if self.base.endswith("vec") else cols
            if self.base.endswith("vec"):
                assert cols % pack == 0
                for a in (args[0], args[1], args[2]):
                    assert a.data.ptr % 16 == 0
            assert grid[0] * block[0] >= units, ("columns not covered", grid, block, units)
            fn = _harness().fn("bias_act_fwd", T)
            flat = (z.reshape(-1), b, y.reshape(-1), rows, cols, act)
            fn(*flat)
            _capture.launched(lambda: fn(*flat))
            return
        from gpugrad import kernels as K
        if self.base in ("sigmoid_fwd", "sigmoid_bwd", "relu_fwd", "relu_bwd",
                         "softmax_xent_bwd", "dropout", *K.optim.UPDATE_FAMILIES):
            for a in args:
                if isinstance(a, ndarray) and a.dtype != np.int64:
                    assert a.data.ptr % 16 == 0, (self.name, "misaligned")
        fn = _harness().fn(self.base, T)
        flat = [h.reshape(-1) if isinstance(h, np.ndarray) else h for h in host_args]
        if self.base.endswith("_multi"):       # the harness walks the grid's blocks in turn
            record = args[0]
            assert block == (256,) and grid[1:] in ((), (1,), (1, 1)), (grid, block)
            assert grid[0] == record["first_block"][0, record["count"][0]], "grid != blocks"
            flat.insert(1, grid[0])
        if self.base == "norm_partial":       # one partial result per block of the grid
            assert grid[1:] in ((), (1,), (1, 1)) and block[0] == 256 and flat[4].size == grid[0]
            flat.append(grid[0])
        if self.base == "norm_finish":
            assert grid[0] == 1 and block[0] == 256, "norm_finish is one block"
        fn(*flat)
        _capture.launched(lambda: fn(*flat))


def _tensor_list(name, typ, record, T):
    """The host address of a ``gg::TensorList<D>`` argument, after checking it as the device
    would read it: a one-element record of optim.py's layout, every address 16-byte aligned
    and followed by the parameter's elements inside a live array of this device and dtype T."""
    from gpugrad.kernels import optim
    depth = int(typ[len("gg::TensorList<"):-1])
    # capturable Adam's lists: array 5 of each parameter is its one-element step count
    one_element = {5} if name.startswith(("adam_step_dev", "adam_count_list")) else set()
    assert isinstance(record, np.ndarray) and record.size == 1, (name, "by value: one record")
    assert record.dtype == optim.tensor_list_dtype(depth), (name, record.dtype)
    count = int(record["count"][0])
    assert 1 <= count <= optim.LIST_MAX, (name, count)
    for i in range(count):
        n = int(record["n"][0, i])
        assert n > 0 and record["first_block"][0, i + 1] - record["first_block"][0, i] == \
            -(-n // optim.LIST_CHUNK), (name, "first_block", i)
        for j in range(depth):
            ptr = int(record["ptr"][0, j, i])
            assert ptr % 16 == 0, (name, "misaligned", i, j)
            a = array_at(ptr, (1 if j in one_element else n) * np.dtype(T).itemsize)
            assert a is not None, (name, "no live array holds", i, j)
            assert a.dtype == T, (name, i, j, a.dtype)
            if a._dev != _state.current_device():
                from .cuda.runtime import CUDARuntimeError, errorIllegalAddress
                raise CUDARuntimeError(errorIllegalAddress)
    # a kernel's parameters are copied when it is launched (and when a capture records it)
    return np.copy(record).ctypes.data_as(ctypes.c_void_p)


_TYPES = {"float64": np.float64, "float32": np.float32, "int32": np.int32, "int64": np.int64}


class ElementwiseKernel:
    def __init__(self, in_params, out_params, operation, name="kernel", preamble="",
                 options=(), **kw):
        self.ins = [p.split() for p in in_params.split(",")]
        self.outs = [p.split() for p in out_params.split(",")]
        self.operation, self.name = operation, name
        assert not re.search(r"^\s*#\s*include\s*\"", preamble, re.M) and "namespace gg" in preamble

    def __call__(self, *args, block_size=128):
        assert block_size == 256
        check_devices(args, self.name)
        n_in, n_out = len(self.ins), len(self.outs)
        assert len(args) in (n_in, n_in + n_out), (self.name, len(args))
        T = None
        values, arrays = {}, []
        for (typ, nm), a in zip(self.ins + self.outs, args):
            if typ == "T":
                assert isinstance(a, ndarray), (self.name, nm, type(a))
                assert T is None or a.dtype == T, (self.name, "T mismatch")
                T = a.dtype
                arrays.append(a._a)
                values[nm] = a
            else:
                assert not isinstance(a, ndarray) and isinstance(a, (int, float)), (self.name, nm, a)
                values[nm] = a
        shape = np.broadcast_shapes(*[a.shape for a in arrays])
        outs = list(args[n_in:])
        for o in outs:
            assert o.shape == shape, ("Out shape is mismatched", o.shape, shape)
        if not outs:
            outs = [empty(shape, T) for _ in self.outs]
            for (typ, nm), o in zip(self.outs, outs):
                values[nm] = o
        # CuPy copies an input that overlaps an output
        for (typ, nm) in self.ins:
            if typ == "T":
                values[nm] = np.broadcast_to(values[nm]._a, shape).copy()
        STATS["ew_launches"].append(self.name)
        _emulate(self.name.replace("gpugrad_", ""), values, np.dtype(T))
        if _capture.capturing():   # again: the inputs as they are then, into the same outputs
            inputs = args[:n_in]
            _capture.launched(lambda: self._rerun(inputs, outs))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _rerun(self, inputs, outs):
        count = len(STATS["ew_launches"])
        self(*inputs, *outs, block_size=256)
        del STATS["ew_launches"][count:]


def _emulate(name, v, T):
    from gpugrad import kernels as K
    A = np.float64 if T == np.float64 else np.float32
    acc = lambda k: np.asarray(v[k]._a if isinstance(v[k], ndarray) else v[k]).astype(A)
    act_names = {0: None, 1: "relu", 2: "sigmoid"}

    def store(k, val):
        v[k]._a[...] = np.asarray(val).astype(T)

    if name == "sigmoid_fwd":
        store("y", K.sigmoid_fwd(acc("x")))
    elif name == "sigmoid_bwd":
        store("gx", K.sigmoid_bwd(acc("y"), acc("gy")))
    elif name == "relu_fwd":
        store("y", K.relu_fwd(acc("x")))
    elif name == "relu_bwd":
        store("gx", K.relu_bwd(acc("y"), acc("gy")))
    elif name == "bias_act_fwd":
        z = acc("z")
        store("y", K.bias_act_fwd(z, np.ascontiguousarray(acc("b").reshape(-1, z.shape[-1])[0]),
                                  act_names[v["act"]]))
    elif name == "bias_act_fwd_inplace":
        z = acc("z")
        store("z", K.bias_act_fwd(z, acc("b").reshape(-1, z.shape[-1])[0], act_names[v["act"]]))
    elif name in ("lstm_cell_fwd", "lstm_cell_bwd"):   # the four gate parts side by side
        gates = np.concatenate([acc(k) for k in ("gi", "gf", "gg", "go")], axis=-1)
        if name == "lstm_cell_fwd":
            for k, val in zip(("h", "c"), K.lstm_cell_fwd(gates, acc("c_prev"))):
                store(k, val)
        else:
            dgates, dc_prev = K.lstm_cell_bwd(gates, acc("c_prev"), acc("dh"), acc("dc"))
            for k, val in zip(("dgi", "dgf", "dgg", "dgo"), np.split(dgates, 4, axis=-1)):
                store(k, val)
            store("dc_prev", dc_prev)
    elif name in ("gru_cell_fwd", "gru_cell_bwd"):
        xp = np.concatenate([acc(k) for k in ("xr", "xz", "xn")], axis=-1)
        hp = np.concatenate([acc(k) for k in ("hr", "hz", "hn")], axis=-1)
        if name == "gru_cell_fwd":
            store("y", K.gru_cell_fwd(xp, hp, acc("h")))
        else:
            dxp, dhp, dh = K.gru_cell_bwd(xp, hp, acc("h"), acc("dy"))
            for k, val in zip(("dr", "dz", "dxn"), np.split(dxp, 3, axis=-1)):
                store(k, val)
            store("dhn", np.split(dhp, 3, axis=-1)[2])
            store("dh", dh)
    elif name == "batch_norm_apply":
        store("y", (acc("x") - acc("mean")) * acc("scale") + acc("shift"))
    elif name == "batch_norm_grad":
        store("gx", (acc("x") * acc("b") + acc("c")) + acc("gy") * acc("a"))
    elif name in K.optim.ELEMENTWISE_UPDATES:   # an optimizer update: its twin, generically
        family, arrays = K.optim.ELEMENTWISE_UPDATES[name]
        spec = K.optim.UPDATE_FAMILIES[family]
        state = {a: acc(a) for a in ("p", *arrays)}
        spec.twin(state["p"], acc("g"), *(state.get(a) for a in spec.state),
                  *(v[s] for s in spec.scalars), *(bool(v[f]) for f in spec.flags))
        for a in state:
            store(a, state[a])
    elif name in ("pointwise_fwd", "pointwise_bwd"):
        pw = next(k for k, c in K.POINTWISE_CODES.items() if c == v["code"])
        if name == "pointwise_fwd":
            store("y", K.pointwise_fwd(pw, acc("x"), v["a"], v["b"]))
        else:
            store("dx", K.pointwise_bwd(pw, acc("x"), acc("dy"), v["a"], v["b"]))
    else:
        raise AssertionError(f"unknown elementwise kernel {name}")
