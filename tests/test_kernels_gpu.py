"""GPU checks of the fused kernels against their NumPy twins (skipped without CUDA).

Every kernel path is exercised on fresh random data: the vectorised RawKernel (C-contiguous,
16-byte aligned float32/float64) and the ElementwiseKernel (strided, transposed, misaligned,
float16), at sizes that are and are not multiples of the 16-byte pack. float32 must agree
with the twin to 1e-6 relative and float64 to 1e-12; the few looser bounds say why.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from gpugrad import backend
from gpugrad import kernels as K

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not backend.cuda_available(),
                       reason=f"needs CUDA: {backend.cuda_unavailable_reason()}"),
]

FLOATS = [np.float32, np.float64]
RTOL = {np.float32: 1e-6, np.float64: 1e-12, np.float16: 2e-3}
SIZES = [1, 3, 4, 1023, 1024, 2 ** 20 + 3]
LAYOUTS = ["contiguous", "strided", "misaligned"]      # transposed: 2-D tests below


def rtol(dtype):
    return RTOL[np.dtype(dtype).type]


@pytest.fixture(scope="module")
def cp():
    return backend.cupy_module()


@pytest.fixture
def paths(monkeypatch):
    """Records which launcher ran: 'raw' (vectorised RawKernel) or 'elementwise'."""
    seen = []
    launch_flat, launch_ew, raw_kernel = K.loader.launch_flat, K.loader.launch_elementwise, K.loader.raw_kernel

    def flat(name, *args):
        seen.append(("raw", name))
        return launch_flat(name, *args)

    def ew(name, *args):
        seen.append(("elementwise", name))
        return launch_ew(name, *args)

    def raw(name):
        seen.append(("raw", name))
        return raw_kernel(name)

    monkeypatch.setattr(K.loader, "launch_flat", flat)
    monkeypatch.setattr(K.loader, "launch_elementwise", ew)
    monkeypatch.setattr(K.loader, "raw_kernel", raw)
    return seen


def expected_path(*arrays):
    """The launcher the dispatch must pick for these device arrays (a one-element strided
    view is contiguous, so it may take the vectorised path)."""
    vectorisable = all(a.dtype in (np.float32, np.float64) and a.dtype == arrays[0].dtype
                       and a.flags.c_contiguous and a.data.ptr % 16 == 0 for a in arrays)
    return "raw" if vectorisable else "elementwise"


def to_device(cp, host, layout):
    """A device array with host's values in the given memory layout."""
    if layout == "contiguous":
        return cp.asarray(host)
    if layout == "strided":                      # every other element of a bigger array
        base = cp.zeros((2 * host.size,), host.dtype)
        base[::2] = cp.asarray(host.ravel())
        return base[::2].reshape(host.shape)
    if layout == "misaligned":                   # C-contiguous, but one element off 16 bytes
        base = cp.zeros((host.size + 1,), host.dtype)
        view = base[1:]
        view[...] = cp.asarray(host.ravel())
        assert view.flags.c_contiguous and view.data.ptr % 16
        return view.reshape(host.shape)
    if layout == "transposed":
        return cp.asarray(np.ascontiguousarray(host.T)).T
    raise ValueError(layout)


def random(rng, n_or_shape, dtype, scale=1.0, specials=()):
    a = (rng.standard_normal(n_or_shape) * scale).astype(dtype)
    flat = a.reshape(-1)
    k = min(len(specials), flat.size)
    flat[:k] = np.asarray(specials[:k], dtype)
    return a


def assert_close(got, want, dtype, cp, atol=0.0, factor=1.0):
    got = cp.asnumpy(got)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol(dtype) * factor, atol=atol)


SIGMOID_SPECIALS = [0.0, -0.0, 1000.0, -1000.0, np.inf, -np.inf, np.nan, 85.0, -85.0, 89.0,
                    -89.0, 705.0, -705.0, 20.0, -20.0]


# ----------------------------------------------------------------------------- activations

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_activations_match_twins(cp, paths, dtype, n, layout):
    rng = np.random.default_rng(n)
    x = random(rng, n, dtype, 10.0, SIGMOID_SPECIALS)
    gy = random(rng, n, dtype, 1.0, [np.nan, np.inf])
    xd, gyd = to_device(cp, x, layout), to_device(cp, gy, layout)
    tiny = np.finfo(dtype).tiny

    y = K.sigmoid_fwd(xd)
    assert_close(y, K.sigmoid_fwd(x), dtype, cp, atol=tiny)
    ys = K.sigmoid_fwd(x)
    assert_close(K.sigmoid_bwd(to_device(cp, ys, layout), gyd), K.sigmoid_bwd(ys, gy), dtype, cp)
    r = K.relu_fwd(x)
    np.testing.assert_array_equal(cp.asnumpy(K.relu_fwd(xd)), r)
    np.testing.assert_array_equal(cp.asnumpy(K.relu_bwd(to_device(cp, r, layout), gyd)),
                                  K.relu_bwd(r, gy))
    assert {p for p, _ in paths} == {expected_path(xd, gyd)}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(33, 31), (1024, 1025), (3, 1)])
def test_activations_on_transposed_inputs(cp, paths, dtype, shape):
    rng = np.random.default_rng(1)
    x = random(rng, shape, dtype, 10.0, SIGMOID_SPECIALS)
    gy = random(rng, shape, dtype)
    xd, gyd = to_device(cp, x, "transposed"), to_device(cp, gy, "transposed")
    assert_close(K.sigmoid_fwd(xd), K.sigmoid_fwd(x), dtype, cp, atol=np.finfo(dtype).tiny)
    y = K.sigmoid_fwd(x)
    assert_close(K.sigmoid_bwd(to_device(cp, y, "transposed"), gyd), K.sigmoid_bwd(y, gy),
                 dtype, cp)
    np.testing.assert_array_equal(cp.asnumpy(K.relu_fwd(xd)), K.relu_fwd(x))
    r = K.relu_fwd(x)
    np.testing.assert_array_equal(cp.asnumpy(K.relu_bwd(to_device(cp, r, "transposed"), gyd)),
                                  K.relu_bwd(r, gy))
    if shape[1] > 1:
        assert {p for p, _ in paths} == {"elementwise"}


@pytest.mark.parametrize("n", [3, 1023, 2 ** 20 + 3])
def test_activations_float16_use_elementwise_kernels(cp, paths, n):
    """float16 is computed in float and rounded once; the oracle is the float32 twin."""
    rng = np.random.default_rng(2)
    x = random(rng, n, np.float16, 4.0, [0.0, -0.0, 1000.0, -1000.0, np.inf, -np.inf])
    gy = random(rng, n, np.float16)
    x32, gy32 = x.astype(np.float32), gy.astype(np.float32)
    y16 = K.sigmoid_fwd(cp.asarray(x))
    assert_close(y16, K.sigmoid_fwd(x32).astype(np.float16), np.float16, cp, atol=1e-7)
    y = cp.asnumpy(y16)
    assert_close(K.sigmoid_bwd(cp.asarray(y), cp.asarray(gy)),
                 K.sigmoid_bwd(y.astype(np.float32), gy32).astype(np.float16), np.float16, cp,
                 atol=1e-6)
    np.testing.assert_array_equal(cp.asnumpy(K.relu_fwd(cp.asarray(x))), K.relu_fwd(x))
    r = K.relu_fwd(x)
    np.testing.assert_array_equal(cp.asnumpy(K.relu_bwd(cp.asarray(r), cp.asarray(gy))),
                                  K.relu_bwd(r, gy))
    assert {p for p, _ in paths} == {"elementwise"}


# ----------------------------------------------------------------------------- bias + act

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 6), (64, 1024), (129, 1000), (4096, 10),
                                   (2, 3, 8)])
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_bias_act_matches_twin(cp, paths, dtype, shape, activation):
    rng = np.random.default_rng(3)
    z = random(rng, shape, dtype, 5.0)
    b = random(rng, shape[-1], dtype)
    want = K.bias_act_fwd(z, b, activation)
    atol = np.finfo(dtype).tiny
    assert_close(K.bias_act_fwd(cp.asarray(z), cp.asarray(b), activation), want, dtype, cp,
                 atol=atol)
    zd = cp.asarray(z)                                          # in place, raw path
    assert K.bias_act_fwd(zd, cp.asarray(b), activation, out=zd) is zd
    assert_close(zd, want, dtype, cp, atol=atol)
    assert {p for p, _ in paths} == {"raw"}
    pack = 16 // np.dtype(dtype).itemsize
    assert all(name.startswith("bias_act_fwd_vec_") == (shape[-1] % pack == 0) for _, name in paths)


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_bias_act_general_layouts(cp, paths, dtype, activation):
    rng = np.random.default_rng(4)
    z = random(rng, (65, 34), dtype, 5.0)
    b = random(rng, 34, dtype)
    if dtype is np.float16:
        want = K.bias_act_fwd(z.astype(np.float32), b.astype(np.float32), activation).astype(dtype)
    else:
        want = K.bias_act_fwd(z, b, activation)
    for layout in (["contiguous"] if dtype is np.float16 else []) + ["strided", "transposed"]:
        zd = to_device(cp, z, layout)
        assert_close(K.bias_act_fwd(zd, cp.asarray(b), activation), want, dtype, cp, atol=1e-30)
        assert K.bias_act_fwd(zd, cp.asarray(b), activation, out=zd) is zd      # in place
        assert_close(zd, want, dtype, cp, atol=1e-30)
    out = cp.empty(z.shape, dtype)
    assert K.bias_act_fwd(to_device(cp, z, "strided"), to_device(cp, b, "strided"), activation,
                          out=out) is out
    assert_close(out, want, dtype, cp, atol=1e-30)
    assert {p for p, _ in paths} == {"elementwise"}


# ----------------------------------------------------------------------------- softmax + xent

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("B,C,scale", [(1, 1, 1.0), (3, 10, 1.0), (4096, 10, 3.0), (64, 1000, 1.0),
                                       (5, 33, 30.0), (17, 7, 1000.0), (2, 100003, 1.0)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_softmax_xent_matches_twin(cp, dtype, B, C, scale, layout):
    rng = np.random.default_rng(5)
    logits = random(rng, (B, C), dtype, scale)
    labels = rng.integers(0, C, B)
    loss_want, p_want = K.softmax_xent_fwd(logits, labels)
    loss, saved = K.softmax_xent_fwd(to_device(cp, logits, layout), cp.asarray(labels))
    assert isinstance(loss, cp.ndarray) and loss.shape == () and loss.dtype == dtype
    # exp + a sum in another order + a division: a few ulp more than the elementwise gates
    assert_close(loss, loss_want, dtype, cp, factor=2)
    assert_close(saved, p_want, dtype, cp, factor=2, atol=1e-30)
    gloss = 0.5 * cp.ones((), dtype)                              # a device scalar
    want = K.softmax_xent_bwd(p_want, labels, np.asarray(0.5, dtype))
    # p - 1 cancels at the label: judge errors against the gradient's scale gloss / B
    atol = 2 * rtol(dtype) * 0.5 / B
    assert_close(K.softmax_xent_bwd(saved, cp.asarray(labels), gloss), want, dtype, cp,
                 factor=2, atol=atol)
    assert_close(K.softmax_xent_bwd(saved, cp.asarray(labels, cp.int32), 0.5), want, dtype, cp,
                 factor=2, atol=atol)
    # the twin's own probabilities through the kernel give the twin's gradient
    assert_close(K.softmax_xent_bwd(cp.asarray(p_want), cp.asarray(labels), gloss), want, dtype, cp,
                 atol=atol)


def test_softmax_xent_bad_label_gives_nan_without_sync(cp):
    logits = cp.zeros((4, 3), cp.float32)
    loss, _ = K.softmax_xent_fwd(logits, cp.asarray([0, 1, 3, 2]))
    assert math.isnan(float(loss))
    loss, _ = K.softmax_xent_fwd(logits, cp.asarray([0, 1, 2, 2]))
    assert float(loss) == pytest.approx(math.log(3), rel=1e-6)


def test_softmax_xent_float16(cp):
    rng = np.random.default_rng(6)
    logits = random(rng, (64, 10), np.float16, 2.0)
    labels = rng.integers(0, 10, 64)
    loss_want, p_want = K.softmax_xent_fwd(logits.astype(np.float32), labels)
    loss, saved = K.softmax_xent_fwd(cp.asarray(logits), cp.asarray(labels))
    assert loss.dtype == saved.dtype == np.float16
    assert_close(loss, loss_want.astype(np.float16), np.float16, cp)
    assert_close(saved, p_want.astype(np.float16), np.float16, cp, atol=1e-4)
    dx = K.softmax_xent_bwd(saved, cp.asarray(labels), cp.ones((), cp.float16))
    assert dx.dtype == np.float16
    want = K.softmax_xent_bwd(p_want, labels, np.asarray(1.0, np.float32)).astype(np.float16)
    assert_close(dx, want, np.float16, cp, atol=1e-4)


# ----------------------------------------------------------------------------- optimizers

from test_kernels_host import (OPTIM_CASES, optim_case_id, optim_state,  # noqa: E402
                               optim_update)  # (the same cases as the host checks)


# every size for the first case of each family, the sizes around a 16-byte pack for the others
_FIRST_OF_FAMILY = {family: options for family, options in reversed(OPTIM_CASES)}
OPTIM_SIZES = [pytest.param(case, n, id=f"{optim_case_id(case)}-{n}") for case in OPTIM_CASES
               for n in (SIZES if _FIRST_OF_FAMILY[case[0]] is case[1] else SIZES[:5])]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case,n", OPTIM_SIZES)
def test_optimizer_updates_match_twins(cp, paths, dtype, n, layout, case):
    family, options = case
    rng = np.random.default_rng(7)
    p = random(rng, n, dtype)
    state = optim_state(family, options, p.shape, dtype)
    pd = to_device(cp, p, layout)
    state_d = {k: to_device(cp, a, layout) for k, a in state.items()}
    for step in range(1, 4):
        g = random(rng, n, dtype)
        gd = to_device(cp, g, layout)
        optim_update(K, family, options, p, g, state, step)
        optim_update(K, family, options, pd, gd, state_d, step)
        np.testing.assert_array_equal(cp.asnumpy(gd), g)          # g is left alone
    assert_close(pd, p, dtype, cp)
    for name, a in state.items():
        assert_close(state_d[name], a, dtype, cp)
    assert {p for p, _ in paths} == {expected_path(pd, gd, *state_d.values())}


#: Parameters of one multi-tensor test: more than a launch holds, sizes around a pack and a
#: chunk, and one of each layout the vectorised kernels do not take (updated one by one).
MULTI_SIZES = [1, 3, 4, 1023, K.optim.LIST_CHUNK - 1, K.optim.LIST_CHUNK + 5, 3 * K.optim.LIST_CHUNK]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", OPTIM_CASES, ids=optim_case_id)
def test_multi_tensor_updates_match_twins(cp, paths, dtype, case):
    """Inside multi_tensor_updates(), 55 parameters of assorted sizes (plus a strided and a
    misaligned one) take two multi-tensor launches per step (48 + 7) and the two odd ones their
    own kernels; every array ends as the twins leave it, three steps on."""
    family, options = case
    rng = np.random.default_rng(13)
    sizes = [MULTI_SIZES[i % len(MULTI_SIZES)] for i in range(K.optim.LIST_MAX + 7)]
    layouts = ["contiguous"] * len(sizes) + ["strided", "misaligned"]
    sizes += [1000, 1000]
    host = [random(rng, n, dtype) for n in sizes]
    states = [optim_state(family, options, (n,), dtype) for n in sizes]
    dev = [to_device(cp, p, layout) for p, layout in zip(host, layouts)]
    dev_states = [{k: to_device(cp, a, layout) for k, a in st.items()}
                  for st, layout in zip(states, layouts)]
    for step in range(1, 4):
        grads = [random(rng, n, dtype) for n in sizes]
        paths.clear()
        with K.multi_tensor_updates():
            for pd, gh, st, layout in zip(dev, grads, dev_states, layouts):
                optim_update(K, family, options, pd, to_device(cp, gh, layout), st, step)
            # only the two odd layouts have launched (elementwise) before the block ends
            assert [kind for kind, _ in paths] == ["elementwise"] * 2, paths
        for p, g, st in zip(host, grads, states):
            optim_update(K, family, options, p, g, st, step)
        multi = [name for kind, name in paths if name.endswith(("multi_f32", "multi_f64"))]
        assert len(multi) == 2 and len(paths) == 4, paths
    for pd, p, dst, st in zip(dev, host, dev_states, states):
        assert_close(pd, p, dtype, cp)
        for name, a in st.items():
            assert_close(dst[name], a, dtype, cp)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_capturable_adam_counts_on_the_device_and_matches_the_twin(cp, paths, dtype, amsgrad):
    """adam_step_dev: the step count a 0-d device array that the update counts and reads. 55
    parameters in multi_tensor_updates() take a count launch and an update launch per list of
    48 (four launches), one alone two (count, update); each step equals the twin's adam_step at
    that step count, and a strided parameter is refused by name."""
    rng = np.random.default_rng(5)
    sizes = [MULTI_SIZES[i % len(MULTI_SIZES)] for i in range(K.optim.LIST_MAX + 7)]
    host = [random(rng, n, dtype) for n in sizes]
    states = [[np.zeros(n, dtype) for _ in range(3)] for n in sizes]
    dev = [cp.asarray(p) for p in host]
    dev_states = [[cp.zeros(n, dtype) for _ in range(3)] for n in sizes]
    steps = [cp.zeros((), dtype) for _ in sizes]
    for t in range(1, 4):
        grads = [random(rng, n, dtype) for n in sizes]
        paths.clear()
        with K.multi_tensor_updates():
            for p, g, (m, v, vm), step in zip(dev, grads, dev_states, steps):
                K.adam_step_dev(p, cp.asarray(g), m, v, step, 1e-2, 0.9, 0.99, 1e-8, 0.01,
                                v_max=vm if amsgrad else None, decoupled_weight_decay=True)
        assert [name for _, name in paths] == [f"adam_count_list_{suffix(dtype)}",
                                               f"adam_step_dev_multi_{suffix(dtype)}"] * 2, paths
        paths.clear()
        K.adam_step_dev(dev[0], cp.asarray(grads[0]), *dev_states[0][:2], steps[0], 0.0, 0.9,
                        0.99, 1e-8, 0.0, v_max=dev_states[0][2] if amsgrad else None)   # lr 0: only counts
        assert [name for _, name in paths][:1] == [f"adam_count_{suffix(dtype)}"], paths
        for i, (p, g, (m, v, vm)) in enumerate(zip(host, grads, states)):   # parameter 0: twice
            K.adam_step(p, g, m, v, 1e-2, 0.9, 0.99, 1e-8, 0.01, 2 * t - 1 if i == 0 else t,
                        v_max=vm if amsgrad else None, decoupled_weight_decay=True)
        K.adam_step(host[0], grads[0], *states[0][:2], 0.0, 0.9, 0.99, 1e-8, 0.0, 2 * t,
                    v_max=states[0][2] if amsgrad else None)
        for step, want in zip(steps, [2 * t] + [t] * (len(sizes) - 1)):
            assert float(cp.asnumpy(step)) == want
    for p, q, st, hst in zip(dev, host, dev_states, states):
        assert_close(p, q, dtype, cp)
        for a, b in zip(st, hst):
            assert_close(a, b, dtype, cp)
    strided = to_device(cp, host[1], "strided")
    with pytest.raises(TypeError, match="adam_step_dev: capturable Adam on CUDA needs C-contiguous"):
        K.adam_step_dev(strided, strided, strided, strided, cp.zeros((), dtype), 1e-2, 0.9, 0.99,
                        1e-8, 0.0)


def suffix(dtype):
    return "f32" if np.dtype(dtype) == np.float32 else "f64"


def test_updates_run_from_any_thread(cp):
    """The queue of multi_tensor_updates() is per thread: an update from another thread (grad
    mode and training loops may run there) launches at once, or queues in that thread's block."""
    import threading
    p, g = cp.ones(8, np.float32), cp.ones(8, np.float32)
    errors = []

    def run():
        try:
            K.sgd_step(p, g, None, 0.5, 0.0, 0.0, 0.0, False, True)
            with K.multi_tensor_updates():
                K.sgd_step(p, g, None, 0.25, 0.0, 0.0, 0.0, False, True)
        except Exception as exc:   # noqa: BLE001 (reported below)
            errors.append(repr(exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not errors, errors
    np.testing.assert_array_equal(cp.asnumpy(p), np.full(8, 0.25, np.float32))


def test_multi_tensor_updates_dropped_when_the_block_raises(cp):
    """An error inside the block launches nothing it queued: the parameters stay as they were."""
    p, g = cp.ones(8, np.float32), cp.ones(8, np.float32)
    with pytest.raises(KeyError):
        with K.multi_tensor_updates():
            K.sgd_step(p, g, None, 0.5, 0.0, 0.0, 0.0, False, True)
            raise KeyError("stop")
    np.testing.assert_array_equal(cp.asnumpy(p), np.ones(8, np.float32))
    with K.multi_tensor_updates():
        K.sgd_step(p, g, None, 0.5, 0.0, 0.0, 0.0, False, True)
    np.testing.assert_array_equal(cp.asnumpy(p), np.full(8, 0.5, np.float32))


@pytest.mark.parametrize("case", OPTIM_CASES, ids=optim_case_id)
def test_optimizers_float16_use_elementwise_kernels(cp, paths, case):
    """float16 state is updated in float and rounded once per step: the oracle is the float32
    twin fed the same rounded state each step."""
    family, options = case
    rng = np.random.default_rng(9)
    n = 1023
    pd = cp.asarray(random(rng, n, np.float16))
    state_d = {k: cp.asarray(a) for k, a in optim_state(family, options, (n,), np.float16).items()}
    for step in range(1, 4):
        g = random(rng, n, np.float16)
        p32 = cp.asnumpy(pd).astype(np.float32)
        state32 = {k: cp.asnumpy(a).astype(np.float32) for k, a in state_d.items()}
        optim_update(K, family, options, p32, g.astype(np.float32), state32, step)
        optim_update(K, family, options, pd, cp.asarray(g), state_d, step)
        assert_close(pd, p32.astype(np.float16), np.float16, cp, atol=1e-4)
        for name, a in state32.items():
            assert_close(state_d[name], a.astype(np.float16), np.float16, cp, atol=1e-4)
    assert {p for p, _ in paths} == {"elementwise"}


# ----------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (4096, 1024), (33, 7)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_sum_rows_matches_twin(cp, dtype, shape, layout):
    g = random(np.random.default_rng(10), shape, dtype)
    got = K.sum_rows(to_device(cp, g, layout))
    assert got.shape == (shape[1],) and got.dtype == dtype
    # a reduction in another order: bound the error by the column's L1 norm
    np.testing.assert_allclose(cp.asnumpy(got), K.sum_rows(g), rtol=0,
                               atol=rtol(dtype) * np.abs(g).sum(axis=0).max())


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_total_norm_matches_twin(cp, p, layout):
    """Norms accumulate in double on both sides, in another order: 1e-12 relative."""
    rng = np.random.default_rng(11)
    host = [random(rng, n, dtype) for n, dtype in
            [(1, np.float32), (1023, np.float64), (2 ** 20 + 3, np.float32), (0, np.float32),
             (300 * 1024 + 5, np.float32), (77, np.float16)] if n or layout == "contiguous"]
    for max_norm in (1.0, 1e12):
        want_norm, want_coef = K.total_norm(host, p, max_norm)
        norm, coef = K.total_norm([to_device(cp, a, layout) for a in host], p, max_norm)
        assert isinstance(norm, cp.ndarray) and norm.shape == () and norm.dtype == np.float64
        np.testing.assert_allclose(cp.asnumpy(norm), want_norm, rtol=1e-12)
        np.testing.assert_allclose(cp.asnumpy(coef), want_coef, rtol=1e-12)
    big = host[2]
    norm32, _ = K.total_norm([cp.asarray(big)], p)
    assert big.dtype == norm32.dtype == np.float32
    np.testing.assert_allclose(cp.asnumpy(norm32), K.total_norm([big], p)[0], rtol=1e-6)


# ----------------------------------------------------------------------------- caching, syncs

def test_kernels_are_compiled_once(cp, monkeypatch):
    modules_made = []
    real_raw_module = cp.RawModule

    def counting_raw_module(*args, **kwargs):
        modules_made.append(kwargs.get("code", "")[:40])
        return real_raw_module(*args, **kwargs)

    K.loader.clear_caches()
    monkeypatch.setattr(cp, "RawModule", counting_raw_module)
    x = cp.arange(1024, dtype=cp.float32)
    K.sigmoid_fwd(x)
    kernel = K.raw_kernel("sigmoid_fwd_f32")
    compiled = kernel.kernel                     # CuPy's per-device compiled function
    K.sigmoid_fwd(x)
    K.relu_fwd(x)                                # same .cu file: same module
    assert K.raw_kernel("sigmoid_fwd_f32") is kernel
    assert kernel.kernel is compiled
    assert len(modules_made) == 1

    xs = x[::2]
    K.sigmoid_fwd(xs)
    ew = K.elementwise_kernel("sigmoid_fwd")
    K.sigmoid_fwd(xs)
    assert K.elementwise_kernel("sigmoid_fwd") is ew


def test_no_host_sync(cp):
    cupyx = pytest.importorskip("cupyx")
    allow_synchronize = getattr(cupyx, "allow_synchronize", None)
    if allow_synchronize is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    rng = np.random.default_rng(11)
    x = cp.asarray(random(rng, (256, 10), np.float32))
    b = cp.asarray(random(rng, 10, np.float32))
    labels = cp.asarray(rng.integers(0, 10, 256))
    p, g, buf, m, v = (cp.asarray(random(rng, 1023, np.float32)) for _ in range(5))
    square_avg, grad_avg, state_sum = (cp.abs(a) for a in (m, v, buf))
    m, v = cp.abs(m), cp.abs(v)

    def step():
        z = K.bias_act_fwd(x, b, "relu")
        K.relu_bwd(z, K.sigmoid_bwd(K.sigmoid_fwd(z), z))
        K.bias_act_fwd(x[:, ::2], b[::2], "sigmoid")
        loss, saved = K.softmax_xent_fwd(z, labels)
        K.softmax_xent_bwd(saved, labels, cp.ones_like(loss))
        K.sum_rows(z)
        K.sgd_step(p, g, buf, 0.1, 0.9, 0.0, 1e-4, True, False)
        K.sgd_step(p[::2], g[::2], buf[::2], 0.1, 0.9, 0.0, 1e-4, True, False)
        K.adam_step(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.0, 3)
        K.adam_step(p[::2], g[::2], m[::2], v[::2], 1e-3, 0.9, 0.999, 1e-8, 1e-2, 3,
                    v_max=buf[::2], decoupled_weight_decay=True)
        K.rmsprop_step(p, g, square_avg, 1e-2, 0.99, 1e-8, 0.0, 0.9, grad_avg=grad_avg * 0.1,
                       momentum_buffer=buf)
        K.adagrad_step(p, g, state_sum, 1e-2, 0.0, 1e-10, 0.0, 2)
        K.total_norm([p, g[::2], buf], 2.0, 1.0)

    step()                                       # compile everything first
    cp.cuda.Device().synchronize()
    with allow_synchronize(False):
        step()
    cp.cuda.Device().synchronize()


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
@pytest.mark.parametrize("B,H", [(1, 1), (3, 5), (32, 256)])
def test_lstm_cell_matches_twin(cp, dtype, B, H):
    """The fused LSTM step (ElementwiseKernels over the four strided gate parts) against the
    NumPy twin, forward and backward, on fresh random data."""
    rng = np.random.default_rng(B * H)
    gates = (rng.standard_normal((B, 4 * H)) * 3).astype(dtype)
    c_prev, dh, dc = (rng.standard_normal((B, H)).astype(dtype) for _ in range(3))
    on_gpu = [cp.asarray(a) for a in (gates, c_prev, dh, dc)]
    pairs = [*zip(K.lstm_cell_fwd(*on_gpu[:2]), K.lstm_cell_fwd(gates, c_prev)),
             *zip(K.lstm_cell_bwd(*on_gpu), K.lstm_cell_bwd(gates, c_prev, dh, dc))]
    for mine, twin in pairs:   # 1 - g² and i (1 - i) cancel in the tails: an absolute bound
        atol = 20 * np.finfo(dtype).eps * max(1.0, float(np.abs(twin).max()))
        np.testing.assert_allclose(cp.asnumpy(mine), twin, rtol=rtol(dtype), atol=atol)


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
@pytest.mark.parametrize("B,H", [(1, 1), (3, 5), (32, 256)])
def test_gru_cell_matches_twin(cp, dtype, B, H):
    """The fused GRU step against the NumPy twin, forward and backward, fresh random data."""
    rng = np.random.default_rng(B * H + 1)
    xp, hp = ((rng.standard_normal((B, 3 * H)) * 3).astype(dtype) for _ in range(2))
    h, dy = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    on_gpu = [cp.asarray(a) for a in (xp, hp, h, dy)]
    pairs = [(K.gru_cell_fwd(*on_gpu[:3]), K.gru_cell_fwd(xp, hp, h)),
             *zip(K.gru_cell_bwd(*on_gpu), K.gru_cell_bwd(xp, hp, h, dy))]
    for mine, twin in pairs:
        atol = 20 * np.finfo(dtype).eps * max(1.0, float(np.abs(twin).max()))
        np.testing.assert_allclose(cp.asnumpy(mine), twin, rtol=rtol(dtype), atol=atol)
# ----------------------------------------------------------------------------- windows, dropout, batch norm

WINDOWS = [K.Window(7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 7, 6), K.Window(9, 8, 3, 2, 2, 1, 0, 1, 1, 2, 4, 7),
           K.Window(5, 5, 3, 3, 2, 2, 1, 1, 1, 1, 4, 3)]    # the last: a ceil-mode window past the input


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
@pytest.mark.parametrize("g", WINDOWS, ids=str)
def test_im2col_and_col2im_match_twins(cp, dtype, g):
    rng = np.random.default_rng(g.H * g.W)
    x = random(rng, (2, 3, g.H, g.W), dtype)
    for pad_value in (0.0, -np.inf):
        np.testing.assert_array_equal(cp.asnumpy(K.im2col(to_device(cp, x, "strided"), g, pad_value)),
                                      K.im2col(x, g, pad_value))
    cols = random(rng, (2, 3, g.kh, g.kw, g.oh, g.ow), dtype)
    want = K.col2im(cols.astype(np.float32) if dtype == np.float16 else cols, g).astype(dtype)
    assert_close(K.col2im(cp.asarray(cols), g), want, dtype, cp, atol=1e-3 if dtype == np.float16 else 0)


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_dropout_matches_twin(cp, dtype, n, layout):
    rng = np.random.default_rng(n)
    x = random(rng, n, dtype, 1.0, [np.nan, np.inf])
    key = K.dropout_key(rng)
    got = cp.asnumpy(K.dropout_apply(to_device(cp, x, layout), key, 0.3))
    want = K.dropout_apply(x.astype(np.float32) if dtype == np.float16 else x, key, 0.3).astype(dtype)
    np.testing.assert_array_equal(got, want)          # the same mask, the same product


@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm_maps_match_twins(cp, dtype):
    rng = np.random.default_rng(5)
    x, gy = (random(rng, (4, 3, 77), dtype) for _ in range(2))
    per = [random(rng, 3, dtype) for _ in range(6)]
    assert_close(K.batch_norm_apply(cp.asarray(x), *map(cp.asarray, per[:3])), K.batch_norm_apply(x, *per[:3]),
                 dtype, cp, atol=rtol(dtype))
    assert_close(K.batch_norm_grad(cp.asarray(x), cp.asarray(gy), *map(cp.asarray, per[3:])),
                 K.batch_norm_grad(x, gy, *per[3:]), dtype, cp, atol=rtol(dtype))
    assert_close(K.channel_sums(cp.asarray(x)), K.channel_sums(x), dtype, cp, factor=100, atol=rtol(dtype) * 100)
    assert_close(K.channel_dots(cp.asarray(x), cp.asarray(gy)), K.channel_dots(x, gy), dtype, cp, factor=100,
                 atol=rtol(dtype) * 100)
