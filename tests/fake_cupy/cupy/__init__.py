"""A CPU stand-in for the parts of CuPy gpugrad.kernels and its GPU tests use.

Only tests/test_kernels_dispatch.py puts this folder on the path (in a subprocess), to run
tests/test_kernels_gpu.py without a GPU: that checks gpugrad.kernels' CuPy code paths (which
kernel is picked, argument order and types, launch sizes, in-place aliasing, no host syncs),
not the GPU's arithmetic, which only a real `pytest -m gpu` run checks.

RawKernels run the host-compiled .cuh arithmetic (the harness of tests/test_kernels_host.py),
after checking every argument against the kernel's signature parsed from kernels/*.cu.
ElementwiseKernels check their arguments against in/out params and emulate the operation
with the NumPy twins computed in the accumulation type. Any device->host transfer inside
allow_synchronize(False) raises.
"""
import contextlib
import ctypes
import re
import subprocess
import sys
import tempfile
import types

import numpy as np

float16, float32, float64, int32, int64 = np.float16, np.float32, np.float64, np.int32, np.int64
_SYNC_ALLOWED = [True]
STATS = {"raw_launches": [], "ew_launches": [], "raw_modules": 0}


def _check_sync():
    if not _SYNC_ALLOWED[0]:
        import cupyx
        raise cupyx.DeviceSynchronized("device->host transfer while disallowed")


def _unwrap(a):
    return a._a if isinstance(a, ndarray) else a


class _Dev:
    id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        _check_sync()


class _Mem:
    def __init__(self, ptr):
        self.ptr = ptr


class _Flags:
    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous


class ndarray:
    def __init__(self, a):
        assert isinstance(a, np.ndarray), type(a)
        self._a = a

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    data = property(lambda self: _Mem(self._a.__array_interface__["data"][0]))
    device = property(lambda self: _Dev())
    T = property(lambda self: ndarray(self._a.T))

    def __getitem__(self, k):
        return _wrap(self._a[k])

    def __setitem__(self, k, v):
        self._a[k] = _unwrap(v)

    def reshape(self, *shape):
        r = self._a.reshape(*shape)
        return ndarray(r)

    def ravel(self):
        return ndarray(self._a.ravel())

    def astype(self, dtype, copy=True):
        return ndarray(np.asarray(self._a.astype(dtype, copy=copy)))

    def copy(self):
        return ndarray(self._a.copy())

    def mean(self):
        return ndarray(np.asarray(self._a.mean(dtype=self._a.dtype)))

    def sum(self, axis=None):
        return ndarray(np.asarray(self._a.sum(axis=axis)))

    def get(self):
        _check_sync()
        return self._a.copy()

    def __float__(self):
        _check_sync()
        return float(self._a)

    def __array__(self, *a, **k):
        raise TypeError("implicit conversion of a fake cupy array to NumPy")

    def __mul__(self, o):
        return ndarray(np.asarray(self._a * _unwrap(o)))

    __rmul__ = __mul__

    def __repr__(self):
        return f"fakecupy.ndarray({self._a!r})"


ndarray.__module__ = "cupy"


def _wrap(v):
    return ndarray(v) if isinstance(v, np.ndarray) else ndarray(np.asarray(v))


def asarray(a, dtype=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return ndarray(np.array(a, dtype=dtype))


def asnumpy(a):
    _check_sync()
    return np.array(_unwrap(a))


def ascontiguousarray(a, dtype=None):
    if a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
        return a
    return ndarray(np.ascontiguousarray(a._a, dtype=dtype))


def empty_like(a, dtype=None):
    return ndarray(np.empty_like(a._a, dtype=dtype))


def ones_like(a, dtype=None):
    return ndarray(np.ones_like(a._a, dtype=dtype))


def _aligned_empty(shape, dtype):
    """A fresh, 256-byte aligned array like CuPy's allocator gives."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(n * dtype.itemsize + 256, np.uint8)
    off = (-raw.__array_interface__["data"][0]) % 256
    return raw[off:off + n * dtype.itemsize].view(dtype).reshape(shape)


def empty(shape, dtype=float64):
    return ndarray(_aligned_empty(shape if isinstance(shape, tuple) else (shape,), dtype))


def zeros(shape, dtype=float64):
    a = empty(shape, dtype)
    a._a[...] = 0
    return a


def ones(shape, dtype=float64):
    a = empty(shape, dtype)
    a._a[...] = 1
    return a


def full(shape, value, dtype=None):
    assert not isinstance(value, ndarray)
    a = empty(shape, dtype if dtype is not None else np.asarray(value).dtype)
    a._a[...] = value
    return a


def arange(*args, dtype=None):
    return ndarray(np.arange(*args, dtype=dtype))


def matmul(a, b):
    return ndarray(np.matmul(a._a, b._a))


# ----------------------------------------------------------------------------- cuda

cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, getDevice=lambda: 0),
    Device=lambda *a: _Dev(),
)

# ----------------------------------------------------------------------------- kernels

_HARNESS = None


def _harness():
    global _HARNESS
    if _HARNESS is None:
        sys.path.insert(0, "/work/main/tests")
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
            if typ.endswith("*"):
                assert isinstance(a, ndarray), (self.name, typ, type(a))
                want = np.int64 if "long long" in typ else T
                assert a.dtype == want, (self.name, typ, a.dtype)
                assert a.flags.c_contiguous, (self.name, "non-contiguous pointer arg")
                if not typ.startswith("const"):
                    pass
                host_args.append(a._a)
            else:
                want = {"long long": np.int64, "int": np.int32, "T": T}[typ]
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
            fn(z.reshape(-1), b, y.reshape(-1), rows, cols, act)
            return
        if self.base in ("sigmoid_fwd", "sigmoid_bwd", "relu_fwd", "relu_bwd", "sgd_step",
                         "adam_step", "softmax_xent_bwd"):
            for a in args:
                if isinstance(a, ndarray) and a.dtype != np.int64:
                    assert a.data.ptr % 16 == 0, (self.name, "misaligned")
        fn = _harness().fn(self.base, T)
        fn(*[h.reshape(-1) if isinstance(h, np.ndarray) else h for h in host_args])


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
        return outs[0] if len(outs) == 1 else tuple(outs)


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
    elif name == "sgd_step":
        p = acc("p")
        K.optim._sgd_step_np(p, acc("g"), None, v["lr"], 0.0, 0.0, v["weight_decay"], False, False, False)
        store("p", p)
    elif name == "sgd_step_momentum":
        p, buf = acc("p"), acc("buf")
        K.optim._sgd_step_np(p, acc("g"), buf, v["lr"], v["momentum"], 1.0 - v["one_minus_dampening"],
                       v["weight_decay"], bool(v["nesterov"]), bool(v["first_step"]), True)
        store("p", p)
        store("buf", buf)
    elif name == "adam_step":
        p, m, vv = acc("p"), acc("m"), acc("v")
        K.optim._adam_step_np(p, acc("g"), m, vv, v["step_size"], v["beta1"], v["beta2"],
                        v["bias_correction2_sqrt"], v["eps"], v["weight_decay"])
        store("p", p)
        store("m", m)
        store("v", vv)
    else:
        raise AssertionError(f"unknown elementwise kernel {name}")
