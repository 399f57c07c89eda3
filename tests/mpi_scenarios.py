"""Multi-process scenarios for gpugrad.distributed, each run on every rank of
``mpiexec -n N python tests/mpi_scenarios.py NAME`` by tests/test_distributed_mpi.py.

A scenario asserts on real values and ends by printing ``PASS NAME rank R``; any failure raises,
which (through gpugrad.distributed's exception hook) ends the whole job with a non-zero status.
The one-process reference a scenario compares with is computed on each rank itself, from the
same seed and the whole batch.
"""
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import gpugrad as gg
import gpugrad.distributed as dist
import gpugrad.nn.functional as F
from gpugrad.data import DataLoader, DistributedBatchSampler
from gpugrad.train import build_model, train_one_epoch

SIZES = (20, 32, 16, 5)


def mlp(seed, sizes=SIZES, dtype=np.float64, device="cpu"):
    gg.manual_seed(seed)
    return build_model(sizes[0], list(sizes[1:-1]), sizes[-1], "relu", device=device, dtype=dtype)


def data(n, sizes=SIZES, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)


def my_part(n, group):
    return slice(n * group.rank // group.world_size, n * (group.rank + 1) // group.world_size)


def max_difference(model_a, model_b):
    return max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(model_a.parameters(), model_b.parameters()))


def assert_same_on_every_rank(model):
    mine = [p.numpy() for p in model.parameters()]
    for theirs in dist.all_gather_object(mine):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs)), "ranks hold different parameters"


def expect(error, text, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except error as exc:
        assert text in str(exc), f"{text!r} not in {exc}"
        return str(exc)
    raise AssertionError(f"{fn.__name__} did not raise {error.__name__}")


# --------------------------------------------------------------------------- collectives

def collectives(group):
    r, n = group.rank, group.world_size
    assert (dist.rank(), dist.world_size(), dist.local_rank(), dist.get_backend()) == (r, n, r, "mpi")
    values = np.array([1.0, -2.0, 3.5]) * (r + 1)
    expected = {"sum": values / (r + 1) * sum(range(1, n + 1)), "max": values / (r + 1) * np.where(values > 0, n, 1)}
    expected["mean"] = expected["sum"] / n
    for op in ("sum", "mean", "max"):
        t = gg.tensor(values.copy())
        version = t._version
        dist.all_reduce(t, op)
        np.testing.assert_allclose(t.numpy(), expected[op], rtol=0, atol=1e-15)
        assert t._version == version + 1, "all_reduce is an in-place modification"
    ints = gg.tensor(np.array([r + 1, 10 * (r + 1)], dtype=np.int64))
    dist.all_reduce(ints, "prod")
    assert ints.tolist() == [int(np.prod(range(1, n + 1))), int(np.prod([10 * k for k in range(1, n + 1)]))]
    ints = gg.tensor(np.array([r, -r], dtype=np.int64))
    dist.all_reduce(ints, "min")
    assert ints.tolist() == [0, -(n - 1)]
    base = gg.tensor(np.arange(6.0).reshape(2, 3) * (r + 1))
    view = base.T                                   # not contiguous: reduced through a copy, written back
    dist.all_reduce(view, "sum")
    np.testing.assert_array_equal(view.numpy(), np.arange(6.0).reshape(2, 3).T * sum(range(1, n + 1)))
    work = dist.all_reduce(t := gg.tensor(np.full(4, float(r))), "mean", async_op=True)
    work.wait()
    assert work.is_completed() and np.all(t.numpy() == (n - 1) / 2)
    b = gg.tensor(np.full(3, float(r)))
    dist.broadcast(b, src=n - 1)
    assert b.tolist() == [n - 1.0] * 3
    assert dist.broadcast_object({"from": r} if r == 1 else None, src=1) == {"from": 1}
    assert dist.all_gather_object(r * r) == [k * k for k in range(n)]
    dist.barrier()
    expect(ValueError, "op must be one of sum, mean, max, min, prod; got 'avg'", dist.all_reduce, t, "avg")
    expect(TypeError, "op 'mean' needs a floating-point tensor, got dtype int64", dist.all_reduce, ints, "mean")
    expect(TypeError, "bool tensor can only be reduced with 'max'", dist.all_reduce, gg.tensor([True]), "sum")
    expect(TypeError, "expected a Tensor, got ndarray", dist.all_reduce, np.zeros(2))
    expect(ValueError, f"src=5 is not a rank of this job (ranks 0 to {n - 1})", dist.broadcast, b, 5)
    expect(RuntimeError, "already called", dist.init)


# --------------------------------------------------------------------------- DistributedDataParallel

def ddp_matches_one_process(group):
    """5 SGD steps with momentum at global batch 64 on N processes = 1 process at batch 64."""
    X, y = data(64)
    part = my_part(64, group)
    model, reference = mlp(seed=group.rank), mlp(seed=0)      # different starts: DDP broadcasts rank 0's
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.001)
    assert len(ddp.buckets) > 1, ddp.buckets
    opt = gg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = gg.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for _ in range(5):
        loss = F.cross_entropy(ddp(gg.tensor(X[part])), gg.tensor(y[part]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_loss = F.cross_entropy(reference(gg.tensor(X)), gg.tensor(y))
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
    difference = max_difference(model, reference)
    assert difference <= 1e-12, difference
    assert_same_on_every_rank(model)
    print(f"max |parameter difference| after 5 steps: {difference:.2e}")


def ddp_epoch_with_uneven_batches(group):
    """An epoch whose batches do not split evenly (150 samples, batch 64: 64, 64, 22) over the
    ranks, through DataLoader + DistributedBatchSampler + train_one_epoch, equals one process's."""
    X, y = data(150)
    model, reference = mlp(seed=0), mlp(seed=0)
    ddp = dist.DistributedDataParallel(model)
    opt, ref_opt = (gg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, reference))
    sampler = DistributedBatchSampler(150, 64, shuffle=True, seed=3)
    loss, _, seen = train_one_epoch(ddp, opt, DataLoader(X, y, batch_sampler=sampler))
    ref_loss, _, ref_seen = train_one_epoch(reference, ref_opt, DataLoader(X, y, 64, shuffle=True, seed=3))
    assert seen == ref_seen == 150 and abs(loss - ref_loss) <= 1e-12, (loss, ref_loss)
    assert max_difference(model, reference) <= 1e-12, max_difference(model, reference)


def ddp_no_sync_accumulates(group):
    """Two half batches, the first under no_sync(), give the gradient of the whole batch."""
    X, y = data(64)
    model, reference = mlp(seed=0), mlp(seed=0)
    ddp = dist.DistributedDataParallel(model)
    halves = [my_part(32, group), slice(32 + my_part(32, group).start, 32 + my_part(32, group).stop)]
    with ddp.no_sync():
        (F.cross_entropy(ddp(gg.tensor(X[halves[0]])), gg.tensor(y[halves[0]])) * 0.5).backward()
    local = [p.grad.numpy().copy() for p in model.parameters()]
    (F.cross_entropy(ddp(gg.tensor(X[halves[1]])), gg.tensor(y[halves[1]])) * 0.5).backward()
    F.cross_entropy(reference(gg.tensor(X)), gg.tensor(y)).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=1e-14)
    others = dist.all_gather_object(local)
    assert not all(np.array_equal(a, b) for a, b in zip(others[0], others[1])), "no_sync averaged anyway"


def ddp_checks(group):
    """Different models are refused (naming what differs); a parameter left out of the loss is
    reported at the next forward; bad arguments; PyTorch's module face."""
    sizes = SIZES if group.rank == 0 else (20, 32, 8, 5)
    message = expect(ValueError, "the ranks' models differ", dist.DistributedDataParallel, mlp(0, sizes))
    assert "'2.weight' is (32, 8) float64 on rank 1 but '2.weight' is (32, 16) float64 on rank 0" in message, message
    expect(ValueError, "bucket_cap_mb must be > 0", dist.DistributedDataParallel, mlp(0), bucket_cap_mb=0)
    model = mlp(0)
    ddp = dist.DistributedDataParallel(model)
    assert list(ddp.state_dict()) == list(model.state_dict()) and ddp.train() is ddp and not ddp.eval().module.training
    X, y = data(8)
    hidden = model[0](gg.tensor(X)).relu()           # layers 2 and 4 are left out of this loss
    F.mse_loss(hidden, gg.zeros(8, 32, dtype="float64")).backward()
    message = expect(RuntimeError, "gave no gradient to '2.weight', '2.bias', '4.weight', '4.bias'", ddp, gg.tensor(X))
    assert f"on rank {group.rank}" in message


def ddp_overlap(group):
    """The first bucket's all-reduce starts while backward is still computing gradients."""
    model = mlp(0, sizes=(784, 1024, 1024, 10), dtype=np.float32)
    ddp = dist.DistributedDataParallel(model)
    assert ddp.buckets == [["4.bias", "4.weight", "2.bias", "2.weight"], ["0.bias", "0.weight"]], ddp.buckets
    X, y = data(64, sizes=(784, 1024, 1024, 10))
    ddp.timeline = []
    loss = F.cross_entropy(ddp(gg.tensor(X.astype(np.float32))), gg.tensor(y))
    loss.backward()
    backward_end = time.perf_counter()
    events = {(what, k): t for t, what, k in ddp.timeline}
    last_gradient = max(t for (what, _), t in events.items() if what == "grad_ready")
    assert events[("launch", 0)] < events[("grad_ready", 0)] <= last_gradient < backward_end, ddp.timeline
    assert events[("reduced", 1)] <= backward_end
    print(f"bucket 0 started {1e3 * (last_gradient - events[('launch', 0)]):.2f} ms before the last gradient was final")


# --------------------------------------------------------------------------- failures

def fails_mid_epoch(group):
    """Rank 1 raises in the middle of an epoch while rank 0 waits for its gradients."""
    X, y = data(256)
    model = dist.DistributedDataParallel(mlp(0))
    opt = gg.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(X, y, batch_sampler=DistributedBatchSampler(256, 32, shuffle=True, seed=0))
    for step, (xb, yb) in enumerate(loader):
        if group.rank == 1 and step == 3:
            raise RuntimeError("rank 1 lost its data at step 3")
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    raise AssertionError("rank 0 finished the epoch without rank 1")


def leaves_early(group):
    """Rank 1 leaves without an error while rank 0 waits in an all-reduce: the watchdog (timeout
    2 s here) ends the job instead of letting rank 0 wait for ever."""
    if group.rank == 1:
        return
    dist.all_reduce(gg.tensor(np.ones(3)))
    raise AssertionError("the all-reduce completed without rank 1")


def dies_by_a_signal(group):
    """Rank 1 is killed (SIGKILL: no Python, no MPI left to say anything) while rank 0 waits."""
    if group.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.all_reduce(gg.tensor(np.ones(3)))
    raise AssertionError("the all-reduce completed without rank 1")


def ddp_broadcasts_buffers(group):
    """BatchNorm's running statistics, moved by each rank's own data, are rank 0's on every rank
    after the next forward (PyTorch's broadcast_buffers); a CNN trains through DDP."""
    gg.manual_seed(0)
    model = gg.nn.Sequential(gg.nn.Conv2d(1, 4, 3, padding=1, dtype=np.float64), gg.nn.BatchNorm2d(4, dtype=np.float64),
                             gg.nn.ReLU(), gg.nn.MaxPool2d(2), gg.nn.Flatten(), gg.nn.Linear(4 * 4 * 4, 3, dtype=np.float64))
    ddp = dist.DistributedDataParallel(model)
    rng = np.random.default_rng(group.rank)
    x = gg.tensor(rng.standard_normal((6, 1, 8, 8)) * (group.rank + 1))
    F.cross_entropy(ddp(x), gg.tensor(np.arange(6) % 3)).backward()      # each rank's own statistics
    mine = model[1].running_var.numpy().copy()
    assert not np.array_equal(mine, dist.all_gather_object(mine)[0]) or group.rank == 0
    ddp.eval()
    ddp(x)                                                               # broadcast first
    buffers = [b.numpy() for b in model.buffers()]
    for theirs in dist.all_gather_object(buffers):
        assert all(np.array_equal(a, b) for a, b in zip(buffers, theirs)), "ranks hold different buffers"
    np.testing.assert_array_equal(buffers[1], dist.all_gather_object(mine)[0])


def train_fails_mid_epoch(group):
    """gpugrad-train, with rank 1's fifth training step raising."""
    from gpugrad.train import loop, main
    real, calls = loop.train_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if group.rank == 1 and len(calls) == 5:
            raise RuntimeError("rank 1 ran out of luck at step 5 of gpugrad-train")
        return real(*args, **kwargs)

    loop.train_step = step
    main(["--epochs", "2", "--hidden", "32", "--out", sys.argv[2]])
    raise AssertionError("gpugrad-train finished without rank 1")


def one_process(group):
    """A job of one process: collectives leave tensors as they are, DDP averages nothing."""
    assert group.world_size == 1 and group.rank == 0
    t = gg.tensor([1.0, 2.0])
    dist.all_reduce(t, "mean")
    dist.broadcast(t, 0)
    assert t.tolist() == [1.0, 2.0] and dist.all_gather_object("x") == ["x"]
    model, reference = mlp(0), mlp(0)
    ddp = dist.DistributedDataParallel(model)
    X, y = data(16)
    F.cross_entropy(ddp(gg.tensor(X)), gg.tensor(y)).backward()
    F.cross_entropy(reference(gg.tensor(X)), gg.tensor(y)).backward()
    assert all(np.array_equal(p.grad.numpy(), q.grad.numpy()) for p, q in zip(model.parameters(), reference.parameters()))


# --------------------------------------------------------------------------- NCCL

def nccl_standin(group):
    """The NCCL path (backend/nccl.py, backend/streams.py, distributed/nccl.py, DDP) on the CPU
    stand-in: collectives, DDP's result, and the stream/event ordering it asks for."""
    import nccl_standin as fake
    r, n = group.rank, group.world_size
    assert group.backend == "nccl" and group.nccl is not None
    t = gg.tensor(np.arange(4.0) + r, device="cuda:0")
    dist.all_reduce(t, "mean")
    assert t.tolist() == list(np.arange(4.0) + (n - 1) / 2)
    dist.broadcast(t2 := gg.tensor(np.full(2, float(r)), device="cuda:0"), src=1)
    assert t2.tolist() == [1.0, 1.0]
    ddp = dist.DistributedDataParallel(gg.nn.Sequential(gg.nn.Linear(3, 2, device="cuda:0", dtype="float64")),
                                       bucket_cap_mb=1e-6)
    layer = ddp.module[0]
    assert layer.weight.numpy().tolist() == dist.broadcast_object(layer.weight.numpy().tolist(), 0)
    weight, bias = layer.weight, layer.bias
    fake.LOG.clear()
    bias.backward(gg.tensor(np.full(2, r + 1.0), device="cuda:0"))     # leaves: their hooks fire at once
    weight.backward(gg.tensor(np.full((3, 2), r + 1.0), device="cuda:0"))
    assert bias.grad.tolist() == [(n + 1) / 2] * 2 and np.all(weight.grad.numpy() == (n + 1) / 2)
    current, side = 0, next(s for kind, s, _ in fake.LOG if kind == "allReduce")
    for b, count in enumerate((2, 6)):   # per bucket: side waits for current, all-reduce, current waits
        record_c, wait_s, reduce_, record_s = fake.LOG[4 * b: 4 * b + 4]
        assert record_c[:2] == ("record", current) and wait_s == ("wait", side, record_c[2]), fake.LOG
        assert reduce_ == ("allReduce", side, count) and record_s[:2] == ("record", side), fake.LOG
    assert [e for e in fake.LOG[8:]] == [("wait", current, fake.LOG[3][2]), ("wait", current, fake.LOG[7][2])]


def mpi_backend_on_cuda_standin(group):
    """backend="mpi" with CUDA tensors (no NCCL): through host copies, on the CPU stand-in."""
    r, n = group.rank, group.world_size
    assert group.backend == "mpi" and group.nccl is None and group.device == "cuda:0"
    base = gg.tensor(np.arange(12.0).reshape(2, 6) + r, device="cuda:0")
    every_other = gg.Tensor(base.array[:, ::2])        # not contiguous, and on the "GPU"
    dist.all_reduce(every_other, "max")
    expected = np.arange(12.0).reshape(2, 6) + r
    expected[:, ::2] += n - 1 - r
    assert base.tolist() == expected.tolist()
    work = dist.all_reduce(base, "mean", async_op=True)
    work.wait()
    assert base.tolist() == dist.all_gather_object(base.tolist())[0]


def nccl_gpus(group):
    """On real GPUs (one per rank): DDP over NCCL = one process at the whole batch."""
    assert group.backend == "nccl" and group.device.index == group.local_rank
    X, y = data(64)
    part = my_part(64, group)
    model, reference = mlp(group.rank, device=group.device), mlp(0, device=group.device)
    ddp = dist.DistributedDataParallel(model)
    opt, ref_opt = (gg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, reference))
    for _ in range(5):
        loss = F.cross_entropy(ddp(gg.tensor(X[part], device=group.device)), gg.tensor(y[part], device=group.device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref = F.cross_entropy(reference(gg.tensor(X, device=group.device)), gg.tensor(y, device=group.device))
        ref_opt.zero_grad()
        ref.backward()
        ref_opt.step()
    assert max_difference(model, reference) <= 1e-12, max_difference(model, reference)
    assert_same_on_every_rank(model)


def nccl_one_rank(group):
    """On one GPU: a 1-rank NCCL communicator's all-reduce (blocking and on the side stream)
    leaves the input as it was."""
    assert group.world_size == 1 and group.backend == "nccl"
    values = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    array = gg.tensor(values, device=group.device).array
    group.nccl.all_reduce(array, "sum")
    group.nccl.all_reduce_async(array, "max").wait()
    gg.synchronize(group.device)
    np.testing.assert_array_equal(gg.backend.to_numpy(array), values)


SCENARIOS = {f.__name__: f for f in (
    collectives, ddp_matches_one_process, ddp_epoch_with_uneven_batches, ddp_no_sync_accumulates, ddp_checks,
    ddp_overlap, ddp_broadcasts_buffers, fails_mid_epoch, leaves_early, dies_by_a_signal, train_fails_mid_epoch, one_process, nccl_standin,
    mpi_backend_on_cuda_standin, nccl_gpus, nccl_one_rank)}


def main(name):
    init = {"device": "cpu"}
    if name.endswith("_standin"):
        sys.path.insert(0, str(Path(__file__).parent / "fake_cupy"))
        import nccl_standin as fake
        fake.install()
        init = {"device": "cuda:0"}          # the stand-in has one "GPU", shared by the ranks
        if name.startswith("mpi"):
            init["backend"] = "mpi"
    elif name.startswith("nccl"):
        init = {"device": "cuda"}
    if name == "leaves_early":
        init["timeout"] = 2
    group = dist.init(**init)
    SCENARIOS[name](group)
    print(f"PASS {name} rank {group.rank}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
