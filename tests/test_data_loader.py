"""gpugrad.data as PyTorch's torch.utils.data: datasets, samplers, collation, the DataLoader on
any map-style dataset (and its fast path for whole arrays), and the order rule: a pass's order is
a function of (seed, epoch) only, whatever calls iter() (tqdm.auto does, twice)."""
import collections
import os
import warnings

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import backend
from gpugrad.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, DistributedBatchSampler,
                          DistributedSampler, RandomSampler, SequentialSampler, Subset, SubsetRandomSampler,
                          TensorDataset, WeightedRandomSampler, default_collate, default_convert, random_split)

from conftest import to_np


def toy(n=10, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64) % 7
    return X, y


class Rows(Dataset):
    """A map-style dataset of (features, label) read sample by sample (the generic path)."""

    def __init__(self, X, y):
        self.X, self.y, self.reads = X, y, 0

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i], int(self.y[i])

    def __len__(self):
        return len(self.X)


def labels(loader):
    return [to_np(batch[1]).tolist() for batch in loader]


def batches(loader):
    return [[to_np(part) for part in batch] for batch in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for got, want in zip(a, b):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)


# --------------------------------------------------------------------------- the order rule (issue 16)

def test_the_issues_snippet_prints_true_1():
    tqdm = pytest.importorskip("tqdm.auto").tqdm
    L = DataLoader(np.zeros((10, 2), np.float32), np.arange(10), 4, shuffle=True, seed=0)
    a = [b[1].numpy().tolist() for b in L]
    L.set_epoch(0)
    with open(os.devnull, "w") as sink:
        b = [b[1].numpy().tolist() for b in tqdm(L, file=sink)]
    assert (a == b, L.epoch) == (True, 1)


@pytest.mark.parametrize("make", ["arrays", "generic"])
def test_epochs_under_tqdm_auto_equal_plain_epochs(make, device):
    """tqdm.auto calls iter() in its constructor and again to iterate: each epoch is the plain one."""
    tqdm = pytest.importorskip("tqdm.auto").tqdm
    X, y = toy(23)
    data = (lambda: TensorDataset(X, y)) if make == "arrays" else (lambda: Rows(X, y))
    plain = DataLoader(data(), 5, shuffle=True, seed=4, device=device)
    barred = DataLoader(data(), 5, shuffle=True, seed=4, device=device)
    with open(os.devnull, "w") as sink:
        for epoch in range(3):
            want = batches(plain)
            got = batches(tqdm(barred, file=sink, mininterval=0))
            assert_same_batches(got, want)
            assert plain.epoch == barred.epoch == epoch + 1
    assert not np.array_equal(plain.indices(0), plain.indices(1))


def test_iter_peek_and_an_abandoned_pass_do_not_move_the_epoch():
    X, y = toy(10)
    loader = DataLoader(X, y, 4, shuffle=True, seed=2, device="cpu")
    first = next(iter(loader))                        # a look at one batch
    for _ in range(5):
        iter(loader)
    assert loader.epoch == 0
    for step, batch in enumerate(loader):             # left after two of three batches
        if step == 1:
            break
    assert loader.epoch == 0
    whole = labels(loader)                            # epoch 0 from its start
    assert whole[0] == to_np(first[1]).tolist() and loader.epoch == 1
    assert sum(whole, []) == y[loader.indices(0)].tolist()


def test_set_epoch_picks_the_order_and_wins_over_a_pass_in_progress():
    X, y = toy(12)
    loader = DataLoader(X, y, 5, shuffle=True, seed=9, device="cpu")
    loader.set_epoch(4)
    assert sum(labels(loader), []) == y[loader.indices(4)].tolist() and loader.epoch == 5
    it = iter(loader)
    next(it)
    loader.set_epoch(2)                               # chosen during epoch 5's pass
    list(it)
    assert loader.epoch == 2                          # the pass's end does not overwrite it
    with pytest.raises(ValueError, match="epoch must be an int >= 0, got -1"):
        loader.set_epoch(-1)


def test_interleaved_passes_are_the_same_epoch():
    X, y = toy(9)
    loader = DataLoader(X, y, 4, shuffle=True, seed=1, device="cpu")
    pairs = [(to_np(a[1]).tolist(), to_np(b[1]).tolist()) for a, b in zip(loader, loader)]
    assert all(a == b for a, b in pairs) and loader.epoch == 1


def test_an_epoch_without_batches_is_complete_when_its_pass_starts():
    X, y = toy(3)
    loader = DataLoader(X, y, 4, drop_last=True, device="cpu")
    assert list(loader) == [] and loader.epoch == 1


def test_the_samplers_epoch_is_the_loaders():
    """PyTorch's DistributedSampler idiom (sampler.set_epoch) and loader.set_epoch are one."""
    X, y = toy(20)
    sampler = DistributedSampler(range(20), num_replicas=2, rank=1, shuffle=True, seed=5)
    loader = DataLoader(TensorDataset(X, y), 3, sampler=sampler, device="cpu")
    sampler.set_epoch(3)
    assert loader.epoch == 3
    assert sum(labels(loader), []) == y[sampler.order(3)].tolist()
    assert sampler.epoch == loader.epoch == 4
    loader.set_epoch(0)
    assert sampler.epoch == 0


def test_a_sampler_of_your_own_gets_the_epoch():
    class EpochSampler:
        def __init__(self):
            self.epochs = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

        def __iter__(self):
            return iter([self.epochs[-1] % 4, 3])

        def __len__(self):
            return 2

    X, y = toy(4)
    sampler = EpochSampler()
    loader = DataLoader(Rows(X, y), 1, sampler=sampler, device="cpu")
    assert [labels(loader) for _ in range(3)] == [[[0], [3]], [[1], [3]], [[2], [3]]]
    assert loader.epoch == 3 and sampler.epochs[-1] == 3


def test_a_pytorch_style_sampler_subclass_needs_only_iter():
    from gpugrad.data import Sampler

    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2

    X, y = toy(9)
    for ds in (TensorDataset(X, y), Rows(X, y)):
        assert labels(DataLoader(ds, 2, sampler=Evens(9))) == [[0, 2], [4, 6], [1]]
    assert Evens(9).order(3).tolist() == [0, 2, 4, 6, 8]
    with pytest.raises(NotImplementedError, match="Sampler must define order"):
        Sampler().order()


# --------------------------------------------------------------------------- datasets

def test_tensor_dataset(device):
    X, y = toy(6)
    ds = TensorDataset(gg.tensor(X, device=device), y, [[i] for i in range(6)])
    assert len(ds) == 6 and len(ds.tensors) == 3
    x2, y2, z2 = ds[2]
    assert isinstance(x2, gg.Tensor) and to_np(x2).tolist() == X[2].tolist() and y2.item() == y[2]
    assert z2.dtype == np.int64 and to_np(z2).tolist() == [2]
    assert ds.tensors[1].value_bounds == (0, 5)           # integer labels from the host
    assert to_np(ds[1:3][1]).tolist() == y[1:3].tolist()
    assert "(6, 3) float32" in repr(ds)
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"got shapes \(6, 3\) and \(5,\) \(tensors 0 and 1\)"):
        TensorDataset(X, y[:5])
    with pytest.raises(ValueError, match="tensor 1 is 0-d"):
        TensorDataset(X, np.float32(1))
    with pytest.raises(TypeError, match="TensorDataset: tensor 0: .*numeric"):
        TensorDataset(np.array(["a", "b"]))


def test_subset_and_concat_dataset():
    X, y = toy(10)
    base = TensorDataset(X, y)
    sub = Subset(base, [7, 2, 2, 9])
    assert len(sub) == 4 and sub[1][1].item() == y[2]
    assert [t[1].item() for t in sub.__getitems__([0, 3])] == [y[7], y[9]]
    assert to_np(sub[[0, 3]][1]).tolist() == [y[7], y[9]]
    both = Rows(X[:3], y[:3]) + Rows(X[3:], y[3:])
    assert isinstance(both, ConcatDataset) and len(both) == 10 and both.cumulative_sizes == [3, 10]
    assert [both[i][1] for i in (0, 2, 3, 9, -1, -10)] == [y[0], y[2], y[3], y[9], y[9], y[0]]
    with pytest.raises(IndexError, match="index 10 is out of range for 10 samples"):
        both[10]
    with pytest.raises(IndexError, match="-11"):
        both[-11]
    with pytest.raises(ValueError, match="must not be empty"):
        ConcatDataset([])
    with pytest.raises(NotImplementedError, match="Dataset must define __getitem__"):
        Dataset()[0]


def test_random_split():
    data = list(range(50))
    parts = random_split(data, [20, 25, 5], generator=np.random.default_rng(42))
    assert [len(p) for p in parts] == [20, 25, 5]
    assert sorted(sum((p.indices for p in parts), [])) == data            # disjoint and complete
    again = random_split(data, [20, 25, 5], generator=np.random.default_rng(42))
    assert [p.indices for p in parts] == [p.indices for p in again]
    assert parts[1][3] == data[parts[1].indices[3]]
    gg.manual_seed(7)
    a = random_split(data, [0.5, 0.5])
    gg.manual_seed(7)
    assert [p.indices for p in a] == [p.indices for p in random_split(data, [0.5, 0.5])]
    assert [len(p) for p in random_split(range(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
    with pytest.raises(ValueError, match=r"sum to 49, but the dataset has 50 samples"):
        random_split(data, [20, 29])
    with pytest.raises(ValueError, match="non-negative ints"):
        random_split(data, [60, -10])
    with pytest.raises(ValueError, match="fraction 1.5 at index 0 is not between 0 and 1"):
        random_split(data, [1.5, -0.5])
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        random_split(data, [25, 25], generator=42)
    with pytest.warns(UserWarning, match="splits 1, 2 of 2 samples are empty"):
        random_split(range(2), [0.9, 0.05, 0.05])


def test_random_split_lengths_are_pytorchs():
    torch = pytest.importorskip("torch")
    for n in (1, 7, 10, 33, 100):
        for fractions in ([0.8, 0.2], [0.33, 0.33, 0.34], [0.1] * 10, [0.5, 0.25, 0.25], [0.7, 0.3]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # both warn of empty splits
                ours = [len(p) for p in random_split(range(n), fractions, generator=np.random.default_rng(0))]
                theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
            assert ours == theirs, (n, fractions)


# --------------------------------------------------------------------------- samplers

def test_samplers_orders_depend_only_on_seed_and_epoch():
    data = range(30)
    for make in (lambda s: RandomSampler(data, seed=s), lambda s: SubsetRandomSampler(list(range(5, 25)), seed=s),
                 lambda s: WeightedRandomSampler(np.linspace(0, 1, 30), 40, seed=s),
                 lambda s: RandomSampler(data, replacement=True, num_samples=45, seed=s)):
        a, b = make(3), make(3)
        assert a.order(2).tolist() == b.order(2).tolist() and a.order(0).tolist() != a.order(1).tolist()
        assert make(4).order(0).tolist() != a.order(0).tolist()
        assert list(a) == a.order(0).tolist() == list(a)        # iterating repeats the epoch
        a.set_epoch(2)
        assert list(a) == b.order(2).tolist() and len(list(a)) == len(a)
    assert sorted(RandomSampler(data, seed=1).order(0).tolist()) == list(data)
    assert sorted(SubsetRandomSampler(range(5, 25), seed=1).order(3).tolist()) == list(range(5, 25))
    assert list(SequentialSampler(data)) == list(data)


def test_random_sampler_sizes_and_seeds():
    more = RandomSampler(range(10), num_samples=25, seed=0).order(0)
    assert len(more) == 25 and all(np.bincount(more, minlength=10) >= 2)   # whole permutations, then part of one
    assert sorted(more[:10].tolist()) == list(range(10))
    drawn = RandomSampler(range(4), replacement=True, num_samples=1000, seed=0).order(0)
    assert set(drawn.tolist()) == {0, 1, 2, 3}
    gg.manual_seed(11)
    a = RandomSampler(range(10)).seed
    gg.manual_seed(11)
    assert RandomSampler(range(10)).seed == a                               # drawn from gpugrad's generator
    rng_seed = RandomSampler(range(10), generator=np.random.default_rng(5)).seed
    assert rng_seed == RandomSampler(range(10), generator=np.random.default_rng(5)).seed
    with pytest.raises(ValueError, match="pass seed or generator, not both"):
        RandomSampler(range(10), generator=np.random.default_rng(5), seed=1)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator .* got int"):
        RandomSampler(range(10), generator=5)
    with pytest.raises(TypeError, match=r"got the int 10; pass range\(10\)"):
        RandomSampler(10)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        RandomSampler(range(10), num_samples=0)


def test_weighted_random_sampler():
    w = np.array([0.0, 1.0, 3.0, 0.0])
    drawn = WeightedRandomSampler(w, 4000, seed=0).order(0)
    counts = np.bincount(drawn, minlength=4)
    assert counts[0] == counts[3] == 0 and 2.6 < counts[2] / counts[1] < 3.4
    assert sorted(WeightedRandomSampler(w, 2, replacement=False, seed=0).order(0).tolist()) == [1, 2]
    assert WeightedRandomSampler(gg.tensor(w), 3, seed=1).order(0).tolist() == WeightedRandomSampler(w, 3, seed=1).order(0).tolist()
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from 2 with non-zero weight"):
        WeightedRandomSampler(w, 3, replacement=False)
    for bad in ([], [0, 0], [1, -1], [[1, 2]], [1, np.nan]):
        with pytest.raises(ValueError, match="weights must be"):
            WeightedRandomSampler(bad, 3)


def test_batch_and_distributed_samplers_match_pytorchs():
    torch_data = pytest.importorskip("torch.utils.data")
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, False), (2, 5, True), (0, 4, False)]:
        ours = list(BatchSampler(SequentialSampler(range(n)), bs, drop))
        assert ours == list(torch_data.BatchSampler(torch_data.SequentialSampler(range(n)), bs, drop))
        assert len(BatchSampler(range(n), bs, drop)) == len(ours) and list(BatchSampler(range(n), bs, drop)) == ours
    for n, replicas, drop in [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, True)]:
        for rank in range(replicas):
            ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop)
            theirs = torch_data.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_distributed_sampler_shuffled_shares_cover_the_epoch():
    parts = [DistributedSampler(range(11), 3, r, seed=2) for r in range(3)]
    for epoch in (0, 1):
        shares = [p.order(epoch).tolist() for p in parts]
        assert all(len(s) == 4 for s in shares)
        assert sorted(sum(shares, [])) == sorted(list(range(11)) + [parts[0].order(epoch)[0].item()])


def test_sampler_argument_errors():
    with pytest.raises(TypeError, match="sampler must be a sampler or an iterable of indices .* got int 10"):
        BatchSampler(10, 3)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        BatchSampler(range(10), 0)
    with pytest.raises(TypeError, match="drop_last must be a bool"):
        BatchSampler(range(10), 3, "yes")
    with pytest.raises(ValueError, match="a sampler brings its own order"):
        DistributedBatchSampler(RandomSampler(range(10), seed=0), 4, 2, 0, shuffle=True)
    with pytest.raises(ValueError, match="rank 3 is not below num_replicas 2"):
        DistributedSampler(range(10), 2, 3)


# --------------------------------------------------------------------------- collation

def test_default_collate_follows_the_samples_structure():
    Point = collections.namedtuple("Point", "x label")
    samples = [{"image": np.full((2, 2), i, np.float32), "label": i, "name": f"s{i}", "pair": (i, 0.5 * i),
                "point": Point(np.float64(i), np.int32(i))} for i in range(3)]
    batch = default_collate(samples)
    assert set(batch) == {"image", "label", "name", "pair", "point"}
    assert batch["image"].shape == (3, 2, 2) and batch["image"].dtype == np.float32
    assert to_np(batch["image"])[:, 0, 0].tolist() == [0, 1, 2]
    assert batch["label"].dtype == np.int64 and to_np(batch["label"]).tolist() == [0, 1, 2]
    assert batch["label"].value_bounds == (0, 2)
    assert batch["name"] == ["s0", "s1", "s2"]
    assert isinstance(batch["pair"], list) and batch["pair"][1].dtype == np.float32   # gg.tensor's float rule
    assert to_np(batch["pair"][1]).tolist() == [0.0, 0.5, 1.0]
    assert isinstance(batch["point"], Point) and batch["point"].label.dtype == np.int32  # NumPy scalars keep theirs
    tensors = default_collate([gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0])])
    assert to_np(tensors).tolist() == [[1, 2], [3, 4]]


def test_default_collate_equals_pytorchs():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate
    samples = [(np.arange(3, dtype=np.float32) + i, i, {"w": np.float64(i) / 2}) for i in range(4)]
    ours, theirs = default_collate(samples), torch_collate(samples)
    assert type(ours) is type(theirs) is list and type(ours[2]) is type(theirs[2]) is dict
    np.testing.assert_array_equal(to_np(ours[0]), theirs[0].numpy())
    np.testing.assert_array_equal(to_np(ours[1]), theirs[1].numpy())
    assert ours[1].dtype == np.int64 and theirs[1].dtype == torch.int64
    np.testing.assert_array_equal(to_np(ours[2]["w"]), theirs[2]["w"].numpy())
    assert ours[2]["w"].dtype == np.float64 and theirs[2]["w"].dtype == torch.float64


def test_default_collate_errors_and_convert():
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match=r"different lengths \[1, 2\]"):
        default_collate([(1,), (1, 2)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="non-empty list of samples"):
        default_collate([])
    converted = default_convert((np.arange(3), 4, "a", {"k": np.float32(2)}))
    assert isinstance(converted, list) and isinstance(converted[0], gg.Tensor)
    assert converted[1:3] == [4, "a"] and converted[3]["k"].item() == 2.0


# --------------------------------------------------------------------------- the DataLoader on any dataset

@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_any_dataset_gives_the_batches_of_the_fast_path(device, shuffle, drop_last):
    X, y = toy(23)
    generic = DataLoader(Rows(X, y), 5, shuffle=shuffle, seed=8, drop_last=drop_last, device=device)
    fast = DataLoader(TensorDataset(X, y), 5, shuffle=shuffle, seed=8, drop_last=drop_last, device=device)
    assert generic.preload is False and fast.preload is True and len(generic) == len(fast) == (4 if drop_last else 5)
    for _ in range(2):
        got, want = list(generic), list(fast)
        assert all(isinstance(b, list) and len(b) == 2 for b in got + want)
        assert all(str(t.device) == str(fast.device) for b in got for t in b)
        assert all(b[1].value_bounds == (0, 6) for b in want)             # the labels' bounds, from the host
        assert all(b[1].value_bounds == (to_np(b[1]).min(), to_np(b[1]).max()) for b in got)   # each batch's own
        assert_same_batches([[to_np(t) for t in b] for b in got], [[to_np(t) for t in b] for b in want])
    order = fast.indices(1)[:20 if drop_last else 23]
    np.testing.assert_array_equal(np.concatenate([to_np(b[0]) for b in want]), X[order])


def test_array_and_tensor_datasets(device):
    X, y = toy(7)
    single = list(DataLoader(X, 3, device=device))
    assert [to_np(b).tolist() for b in single] == [X[:3].tolist(), X[3:6].tolist(), X[6:].tolist()]
    loader = DataLoader(TensorDataset(gg.tensor(X), gg.tensor(y)), 4, shuffle=True, seed=0, device=device)
    got = [to_np(yb).tolist() for _, yb in loader]
    assert sum(got, []) == y[loader.indices(0)].tolist()
    raw = list(DataLoader(TensorDataset(X, y), 4, device=device, as_tensors=False))
    assert all(backend.is_array(part) for batch in raw for part in batch)


def test_subsets_take_the_fast_path_with_their_own_rows(device):
    X, y = toy(40)
    train, val = random_split(TensorDataset(X, y), [30, 10], generator=np.random.default_rng(0))
    inner = Subset(train, [29, 0, 5])                                 # a subset of a subset
    for ds in (train, val, inner):
        for preload in (True, False):
            loader = DataLoader(ds, 4, shuffle=True, seed=1, device=device, preload=preload)
            assert loader.preload is preload
            rows = np.asarray(ds.indices if ds is not inner else [train.indices[i] for i in inner.indices])
            got = np.concatenate([to_np(xb) for xb, _ in loader])
            np.testing.assert_array_equal(got, X[rows[loader.indices(0)]])
            loader.set_epoch(0)
            assert_same_batches(batches(loader), batches(DataLoader(Rows(X[rows], y[rows]), 4, shuffle=True, seed=1,
                                                                    device=device)))
    with pytest.raises(IndexError, match="a Subset gives index 40, but the dataset has 40 samples"):
        DataLoader(Subset(TensorDataset(X, y), [1, 40]), 2)


def test_sampler_and_batch_sampler_options(device):
    X, y = toy(12)
    for ds in (TensorDataset(X, y), Rows(X, y)):
        picked = DataLoader(ds, 2, sampler=SubsetRandomSampler([1, 3, 5, 7, 9], seed=0), device=device)
        assert sum(labels(picked), []) == y[SubsetRandomSampler([1, 3, 5, 7, 9], seed=0).order(0)].tolist()
        own = DataLoader(ds, batch_sampler=[[0, 1, 2], [11], [5, 5]], device=device)
        assert labels(own) == [y[[0, 1, 2]].tolist(), [y[11]], [y[5], y[5]]] and len(own) == 3
        assert own.batch_size is None and own.batch_sampler == [[0, 1, 2], [11], [5, 5]]
        assert own.indices().tolist() == [0, 1, 2, 11, 5, 5]


def test_collate_fn_gets_the_samples_and_its_batch_moves_to_the_device(device):
    X, y = toy(6)
    seen = []

    def collate(samples):
        seen.append(samples)
        return {"x": np.stack([s[0] for s in samples]) * 2, "n": len(samples)}

    loader = DataLoader(Rows(X, y), 4, collate_fn=collate, device=device)
    out = list(loader)
    assert [len(s) for s in seen] == [4, 2] and seen[1][0][1] == y[4]
    assert isinstance(out[0]["x"], gg.Tensor) and str(out[0]["x"].device) == str(loader.device)
    np.testing.assert_array_equal(to_np(out[1]["x"]), X[4:] * 2)
    assert [b["n"] for b in out] == [4, 2]
    # a TensorDataset with a collate_fn is read sample by sample, as in PyTorch
    first = next(iter(DataLoader(TensorDataset(X, y), 3, collate_fn=lambda s: s, device=device)))
    assert len(first) == 3 and isinstance(first[0], tuple) and first[0][1].item() == y[0]


def test_batch_size_none_yields_single_samples(device):
    X, y = toy(4)
    samples = list(DataLoader(Rows(X, y), batch_size=None, device=device))
    assert len(samples) == 4 and isinstance(samples[0], list)
    assert to_np(samples[2][0]).tolist() == X[2].tolist() and samples[2][1] == y[2]   # ints stay ints, as PyTorch's
    assert len(DataLoader(Rows(X, y), batch_size=None)) == 4


def test_getitems_reads_a_batch_at_once():
    class Batched(Rows):
        def __getitems__(self, indices):
            self.calls = getattr(self, "calls", 0) + 1
            return [(self.X[i], int(self.y[i])) for i in indices]

    X, y = toy(10)
    ds = Batched(X, y)
    assert labels(DataLoader(ds, 4)) == [y[:4].tolist(), y[4:8].tolist(), y[8:].tolist()]
    assert ds.calls == 3 and ds.reads == 0


def test_a_generator_seeds_the_shuffle_once():
    X, y = toy(30)
    a = DataLoader(X, y, 8, shuffle=True, generator=np.random.default_rng(3))
    b = DataLoader(X, y, 8, shuffle=True, generator=np.random.default_rng(3))
    assert [labels(a) for _ in range(2)] == [labels(b) for _ in range(2)]
    assert a.seed == b.seed and a.indices(0).tolist() != a.indices(1).tolist()


def test_distributed_batch_sampler_with_any_dataset():
    X, y = toy(11)
    whole = batches(DataLoader(Rows(X, y), 4, shuffle=True, seed=6))
    for make in (lambda: Rows(X, y), lambda: TensorDataset(X, y), lambda: Subset(TensorDataset(X, y), range(11))):
        parts = [batches(DataLoader(make(), batch_sampler=DistributedBatchSampler(make(), 4, 3, r, shuffle=True,
                                                                                  seed=6))) for r in range(3)]
        for step, batch in enumerate(whole):
            pieces = [parts[r][step] for r in range(3)]
            for field in range(2):
                np.testing.assert_array_equal(np.concatenate([p[field] for p in pieces]), batch[field])
        empty = parts[0][-1]                     # the last batch has 3 samples: one each
        assert [p[-1][1].shape for p in parts] == [(1,), (1,), (1,)] and empty[0].dtype == np.float32
    short = [batches(DataLoader(Rows(X[:9], y[:9]), batch_sampler=DistributedBatchSampler(9, 8, 3, r)))
             for r in range(3)]
    assert [s[-1][0].shape for s in short] == [(0, 3), (0, 3), (1, 3)]   # empty parts keep the structure
    assert short[0][-1][1].dtype == np.int64
    weighted = [WeightedRandomSampler(np.ones(11), 8, seed=0) for _ in range(2)]   # each rank's own
    split = [labels(DataLoader(Rows(X, y), batch_sampler=DistributedBatchSampler(weighted[r], 4, 2, r)))
             for r in range(2)]
    assert split[0][0] + split[1][0] == y[weighted[0].order(0)[:4]].tolist()


# --------------------------------------------------------------------------- errors

def test_loader_argument_errors():
    X, y = toy(10)
    ds = TensorDataset(X, y)
    cases = [
        (dict(sampler=SequentialSampler(ds), shuffle=True), ValueError, "sampler is mutually exclusive with shuffle"),
        (dict(sampler=SequentialSampler(ds), seed=1), ValueError, "sampler is mutually exclusive with shuffle, seed"),
        (dict(batch_sampler=[[0]], batch_size=2), ValueError, "batch_sampler is mutually exclusive with batch_size"),
        (dict(batch_sampler=[[0]], drop_last=True), ValueError, "batch_sampler is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), ValueError, "batch_size=None .* mutually exclusive with drop_last"),
        (dict(shuffle="yes"), TypeError, "shuffle must be a bool or None, got 'yes'"),
        (dict(drop_last=1), TypeError, "drop_last must be a bool"),
        (dict(seed=-1), ValueError, "seed must be an int >= 0"),
        (dict(shuffle=True, generator=7), TypeError, "generator must be a numpy.random.Generator"),
        (dict(shuffle=True, seed=1, generator=np.random.default_rng(0)), ValueError, "pass seed or generator"),
        (dict(prefetch_factor=2), ValueError, "prefetch_factor is for worker processes"),
        (dict(persistent_workers=True), ValueError, "persistent_workers"),
        (dict(num_workers=-1), ValueError, "num_workers must be an int >= 0"),
        (dict(timeout=-1), ValueError, "timeout must be non-negative"),
        (dict(batchsize=4), TypeError, r"DataLoader\(\) got an unexpected keyword argument 'batchsize'"),
        (dict(sampler=RandomSampler(range(11), seed=0)), ValueError, "the sampler is for 11 samples, but the dataset has 10"),
    ]
    for kwargs, kind, words in cases:
        with pytest.raises(kind, match=words):
            DataLoader(ds, **kwargs)
    with pytest.raises(TypeError, match="dataset must be a map-style dataset .* got generator"):
        DataLoader((i for i in range(3)), 2)
    with pytest.raises(ValueError, match="preload is for datasets of whole arrays .* this Rows is read sample by sample"):
        DataLoader(Rows(X, y), 2, preload=True)
    with pytest.warns(UserWarning, match="num_workers=2: gpugrad loads every batch in this process"):
        loader = DataLoader(ds, 4, num_workers=2, pin_memory=True)
    assert loader.num_workers == 2 and len(labels(loader)) == 3


def test_bad_indices_from_a_sampler_are_named():
    X, y = toy(5)
    with pytest.raises(IndexError, match="the sampler gives index 5, but the dataset has 5 samples"):
        list(DataLoader(X, y, batch_sampler=[[0, 5]]))
    with pytest.raises(TypeError, match=r"sample indices must be ints, got 1.5"):
        list(DataLoader(X, y, batch_sampler=[[0, 1.5]]))
    assert labels(DataLoader(X, y, batch_sampler=[[-1, 0]])) == [[y[4], y[0]]]   # counted from the end, as Python's
