"""gpugrad.distributed and its helpers in one process: no MPI needed (tests/test_distributed_mpi.py
runs the multi-process jobs). Importing gpugrad never imports mpi4py; the samplers, bucket
assignment, watchdog and the loop's share of a batch are plain Python."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.distributed as dist
from gpugrad.data import BatchSampler, DataLoader, DistributedBatchSampler, RandomSampler, SequentialSampler
from gpugrad.distributed.buckets import MB, assign_buckets
from gpugrad.distributed.watchdog import Watchdog
from gpugrad.train import build_model, train_step
from gpugrad.train.processes import Processes

WITHOUT_MPI4PY = "import sys; sys.modules['mpi4py'] = None\n"   # makes `import mpi4py` fail


def python(code, env=None):
    import os
    environ = {**os.environ, **(env or {})}
    environ.pop("GPUGRAD_DEVICE", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environ)


def test_importing_gpugrad_never_imports_mpi4py():
    out = python("import sys, gpugrad, gpugrad.distributed, gpugrad.nn.parallel, gpugrad.train\n"
                 "print('mpi4py' in sys.modules)")
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_without_mpi4py_init_names_the_mpi_extra():
    out = python(WITHOUT_MPI4PY + "import gpugrad.distributed as d\ntry:\n    d.init()\n"
                 "except ImportError as e:\n    print(e)")
    assert out.returncode == 0, out.stderr
    assert "gpugrad.distributed needs mpi4py" in out.stdout and "pip install 'gpugrad[mpi]'" in out.stdout


@pytest.mark.parametrize("rank,prints", [(0, True), (1, False)])
def test_gpugrad_train_under_mpiexec_without_mpi4py_says_what_to_install(rank, prints):
    pytest.importorskip("sklearn")
    out = python(WITHOUT_MPI4PY + "from gpugrad.train import main\nraise SystemExit(main(['--epochs', '1']))",
                 env={"PMI_SIZE": "2", "PMI_RANK": str(rank)})
    assert out.returncode == 2 and out.stdout == ""
    if prints:   # rank 0 alone reports what every rank found
        assert out.stderr.startswith("gpugrad-train: error: training under mpiexec: gpugrad.distributed needs mpi4py")
        assert "pip install 'gpugrad[mpi]'" in out.stderr and len(out.stderr.splitlines()) == 1
    else:
        assert out.stderr == ""


def test_before_init_every_call_says_to_call_init():
    assert not dist.is_initialized()
    for fn in (dist.rank, dist.world_size, dist.local_rank, dist.get_backend, dist.barrier,
               lambda: dist.all_reduce(gg.zeros(2)), lambda: dist.DistributedDataParallel(build_model(2, [], 2))):
        with pytest.raises(RuntimeError, match=r"call gpugrad.distributed.init\(\) first"):
            fn()
    assert gg.nn.parallel.DistributedDataParallel is dist.DistributedDataParallel


def test_init_checks_its_arguments_before_touching_mpi():
    with pytest.raises(ValueError, match="backend must be one of"):
        dist.init(backend="gloo")


@pytest.mark.parametrize("environ,expected", [
    ({}, None), ({"PMI_SIZE": "4", "PMI_RANK": "2"}, (2, 4)),
    ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}, (1, 2)),
    ({"PMI_SIZE": "x", "PMI_RANK": "0", "MV2_COMM_WORLD_SIZE": "3", "MV2_COMM_WORLD_RANK": "0"}, (0, 3)),
])
def test_launched_world_reads_the_launchers_variables(environ, expected):
    assert dist.launched_world(environ) == expected


# --------------------------------------------------------------------------- buckets

def test_buckets_follow_pytorch_ddps_rule():
    params = list(build_model(784, [1024, 1024], 10).parameters())   # W1 b1 W2 b2 W3 b3, float32
    # reverse order; the first bucket closes past 1 MB (after W2), the rest share the 25 MB bucket
    assert assign_buckets(params, 25 * MB) == [[5, 4, 3, 2], [1, 0]]
    # 3 MB cap: W1 (3.06 MB) fills its own bucket
    assert assign_buckets(params, 3 * MB) == [[5, 4, 3, 2], [1, 0]]
    assert assign_buckets(params, 1) == [[5], [4], [3], [2], [1], [0]]
    mixed = params[:2] + list(build_model(3, [], 2, dtype=np.float64).parameters())
    assert assign_buckets(mixed, 25 * MB) == [[3, 2], [1, 0]]   # one bucket per dtype


# --------------------------------------------------------------------------- samplers

@pytest.mark.parametrize("n,batch,replicas,shuffle", [(150, 64, 2, True), (1437, 64, 3, True), (10, 4, 4, False),
                                                      (65, 64, 2, True), (7, 8, 3, False)])
def test_the_ranks_parts_make_up_each_global_batch(n, batch, replicas, shuffle):
    whole = BatchSampler(RandomSampler(range(n), seed=5) if shuffle else SequentialSampler(range(n)), batch)
    parts = [DistributedBatchSampler(n, batch, replicas, r, shuffle=shuffle, seed=5) for r in range(replicas)]
    assert all(len(p) == len(whole) for p in parts)          # every rank takes the same number of steps
    for epoch in (0, 3):
        per_rank = [list(p.batches(epoch)) for p in parts]
        for step, batch_indices in enumerate(whole.batches(epoch)):
            pieces = [per_rank[r][step] for r in range(replicas)]
            np.testing.assert_array_equal(np.concatenate(pieces), batch_indices)
            assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
            weights = [p.loss_weight(step) for p in parts]
            # averaged over the ranks, each sample's weight in the weighted local means is 1/len(batch)
            assert all(w * len(batch_indices) == pytest.approx(replicas * len(piece)) for w, piece in zip(weights, pieces))
            assert all(w == 1.0 for w in weights) or len(batch_indices) % replicas


def test_a_rank_may_get_an_empty_part_of_a_short_last_batch():
    parts = [list(DistributedBatchSampler(9, 8, 3, r).batches(0)) for r in range(3)]
    assert [len(p[-1]) for p in parts] == [0, 0, 1] and [p.loss_weight(1) for p in
                                                         (DistributedBatchSampler(9, 8, 3, r) for r in range(3))] == [0, 0, 3]


def test_sampler_and_loader_arguments():
    with pytest.raises(ValueError, match="rank 2 is not below num_replicas 2"):
        DistributedBatchSampler(10, 2, 2, 2)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        DistributedBatchSampler(10, 0, 2, 0)
    with pytest.raises(RuntimeError, match="not initialized"):
        DistributedBatchSampler(10, 2)                          # ranks from the process group
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=np.int64)
    sampler = DistributedBatchSampler(10, 4, 2, 1, shuffle=True, seed=1)
    with pytest.raises(ValueError, match="batch_sampler is mutually exclusive with batch_size, shuffle, sampler"):
        DataLoader(X, y, 4, batch_sampler=sampler)
    with pytest.raises(ValueError, match="the sampler is for 10 samples, but the dataset has 9"):
        DataLoader(X[:9], y[:9], batch_sampler=sampler)
    loader = DataLoader(X, y, batch_sampler=sampler, device="cpu")
    assert [len(yb) for _, yb in loader] == [2, 2, 1] and len(loader) == 3
    assert "rank=1, num_replicas=2" in repr(loader) and loader.batch_sampler.batch_size == 4 and loader.seed == 1
    assert loader.batch_size is None      # as PyTorch's, when a batch_sampler is given


# --------------------------------------------------------------------------- the loop's share of a batch

def test_train_step_weights_the_loss_and_an_empty_batch_gives_zero_gradients():
    X = np.random.default_rng(0).standard_normal((6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    grads = []
    for weight in (1.0, 0.25):
        gg.manual_seed(0)
        model = build_model(4, [5], 3, dtype=np.float64)
        opt = gg.optim.SGD(model.parameters(), lr=0.0)
        loss = train_step(model, opt, gg.tensor(X), gg.tensor(y), loss_weight=weight)
        grads.append([p.grad.numpy() for p in model.parameters()])
    assert all(np.allclose(a * 0.25, b, rtol=1e-15, atol=0) for a, b in zip(*grads))
    loss = train_step(model, opt, gg.tensor(X[:0]), gg.tensor(y[:0]), loss_weight=0.0)
    assert loss.item() == 0.0 and all(not p.grad.numpy().any() for p in model.parameters())


def test_one_process_run_is_rank_0_of_1(capsys):
    ranks = Processes()
    assert (ranks.rank, ranks.size, ranks.parallel, ranks.is_writer) == (0, 1, False, True)
    assert ranks.data_parallel(model := build_model(2, [], 2)) is model
    assert ranks.fail("gpugrad-train: error: boom", 2) == 2
    assert capsys.readouterr().err == "gpugrad-train: error: boom\n"
    assert Processes((1, 4)).parallel and not Processes((1, 4)).is_writer
    assert not Processes((0, 1)).parallel                        # mpiexec -n 1: one process


# --------------------------------------------------------------------------- the watchdog

class _Event:
    def __init__(self, done):
        self.done = done


def test_watchdog_names_the_wait_that_lasted_too_long():
    dog = Watchdog(10.0, lambda what: None)
    try:
        now = time.monotonic()
        assert dog.overdue(now) is None
        with dog.blocking("all_reduce", 3 * 2**20):
            assert dog.overdue(now + 5) is None
            assert dog.overdue(now + 11) == "all_reduce of 3 MiB"
        assert dog.overdue(now + 11) is None
        dog.track("all_reduce", 512, _Event(done=True))     # finished GPU work is forgotten
        dog.track("broadcast", 2048, _Event(done=False))
        assert dog.overdue(now + 11) == "broadcast of 2 KiB"
    finally:
        dog.stop()
    with pytest.raises(ValueError, match="positive number of seconds"):
        Watchdog(0, print)


def test_watchdog_thread_calls_on_timeout():
    fired = threading.Event()
    seen = []
    dog = Watchdog(0.2, lambda what: (seen.append(what), fired.set()))
    with dog.blocking("barrier"):
        assert fired.wait(5)
    dog.stop()
    assert seen == ["barrier"]
