"""Tests of gpugrad.data: the IDX reader, the MNIST-format and digits loaders, and DataLoader (CPU)."""
import gzip
import os
import struct
import sys

import numpy as np
import pytest

from gpugrad import backend, data
from gpugrad.tensor import Tensor
from gpugrad.data import DataError, DataLoader, load_digits, load_idx_dataset, read_idx

# --------------------------------------------------------------------------- helpers

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr, code=None):
    arr = np.asarray(arr)
    code = _CODES[arr.dtype] if code is None else code
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, gz=False):
    raw = idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_raw(path, raw):
    path.write_bytes(raw)
    return path


def read_error(path):
    with pytest.raises(DataError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg  # every message names the file
    return msg


# --------------------------------------------------------------------------- read_idx: good files

@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_ubyte_images_and_labels(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    got_i = read_idx(write_idx(tmp_path / "img", images, gz))
    got_l = read_idx(str(write_idx(tmp_path / "lbl", labels, gz)))
    assert got_i.dtype == np.uint8 and got_i.shape == (7, 28, 28)
    assert got_l.dtype == np.uint8 and got_l.shape == (7,)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)
    got_i[0, 0, 0] = 1  # a normal, writable array


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_other_types_exactly(tmp_path, dtype, gz):
    rng = np.random.default_rng(1)
    if np.dtype(dtype).kind == "f":
        arr = rng.standard_normal((3, 4, 5)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True, dtype=dtype)
    got = read_idx(write_idx(tmp_path / "x", arr, gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "data.idx", arr, gz=True)), arr)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain.gz", arr, gz=False)), arr)


def test_empty_dimension(tmp_path):
    got = read_idx(write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8)))
    assert got.shape == (0, 28, 28)


# --------------------------------------------------------------------------- read_idx: bad files

def test_missing_file(tmp_path):
    msg = read_error(tmp_path / "nope-idx1-ubyte")
    assert "does not exist" in msg


def test_directory_is_not_a_file(tmp_path):
    assert "directory" in read_error(tmp_path)


@pytest.mark.parametrize("raw", [b"", b"\x00\x00\x08"], ids=["empty", "3-bytes"])
def test_truncated_header_magic(tmp_path, raw):
    msg = read_error(write_raw(tmp_path / "t", raw))
    assert "truncated header" in msg and f"has {len(raw)}" in msg


def test_truncated_header_dims(tmp_path):
    raw = idx_bytes(np.zeros((2, 3, 4), np.uint8))[:10]  # 3 dims need 16 header bytes
    msg = read_error(write_raw(tmp_path / "t", raw))
    assert "truncated header" in msg and "16" in msg and "has 10" in msg


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_wrong_magic_shows_hex(tmp_path, gz):
    raw = b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01" + b"\x05"
    msg = read_error(write_raw(tmp_path / "m", gzip.compress(raw) if gz else raw))
    assert "wrong magic number" in msg and "0x12340801" in msg


def test_wrong_magic_for_a_text_file(tmp_path):
    msg = read_error(write_raw(tmp_path / "m.txt", b"hello world"))
    assert "wrong magic number" in msg and "0x" + b"hell".hex() in msg


def test_unknown_type_code(tmp_path):
    raw = b"\x00\x00\x0a\x01" + struct.pack(">I", 2) + b"\x01\x02"
    msg = read_error(write_raw(tmp_path / "u", raw))
    assert "unknown data type code 0x0A" in msg


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_truncated_data(tmp_path, gz):
    raw = idx_bytes(np.arange(6, dtype=np.int32).reshape(2, 3))[:-4]  # 24 data bytes promised, 20 there
    msg = read_error(write_raw(tmp_path / "d", gzip.compress(raw) if gz else raw))
    assert "truncated data" in msg and "expected 24 bytes" in msg and "found 20" in msg


def test_trailing_bytes(tmp_path):
    raw = idx_bytes(np.arange(4, dtype=np.uint8)) + b"\xff\xff\xff"
    msg = read_error(write_raw(tmp_path / "x", raw))
    assert "3 unexpected bytes" in msg


def test_corrupt_gzip_truncated_stream(tmp_path):
    gz = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    msg = read_error(write_raw(tmp_path / "c.gz", gz[: len(gz) // 2]))
    assert "corrupt gzip stream" in msg


def test_corrupt_gzip_damaged_stream(tmp_path):
    gz = bytearray(gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))))
    for i in range(20, len(gz) - 10, 7):  # scribble over the deflate data
        gz[i] ^= 0x5A
    msg = read_error(write_raw(tmp_path / "c.gz", bytes(gz)))
    assert "corrupt gzip stream" in msg


def test_corrupt_gzip_bad_header(tmp_path):
    msg = read_error(write_raw(tmp_path / "c", b"\x1f\x8b\x00\x00garbage"))
    assert "corrupt gzip stream" in msg


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


# --------------------------------------------------------------------------- load_idx_dataset

def make_dataset(folder, n_train=5, n_test=3, gz_train=True, gz_test=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, :2] = (0, 255)  # both ends of the scale
    for base, arr in arrays.items():
        gz = gz_train if base.startswith("train") else gz_test
        write_idx(folder / (base + (".gz" if gz else "")), arr, gz)
    return arrays


def test_load_idx_dataset(tmp_path):
    arrays = make_dataset(tmp_path)
    X_train, y_train, X_test, y_test = load_idx_dataset(tmp_path, name="mnist")
    assert X_train.shape == (5, 784) and X_train.dtype == np.float32
    assert X_test.shape == (3, 784) and X_test.dtype == np.float32
    assert y_train.shape == (5,) and y_train.dtype == np.int64
    assert y_test.shape == (3,) and y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    np.testing.assert_allclose(X_train, arrays["train-images-idx3-ubyte"].reshape(5, 784) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(X_test, arrays["t10k-images-idx3-ubyte"].reshape(3, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_idx_dataset_fashion_name_and_dotted_files(tmp_path):
    make_dataset(tmp_path, gz_train=False, gz_test=True)
    os.rename(tmp_path / "train-images-idx3-ubyte", tmp_path / "train-images.idx3-ubyte")
    X_train, y_train, X_test, y_test = load_idx_dataset(str(tmp_path), name="fashion-mnist")
    assert X_train.shape == (5, 784) and X_test.shape == (3, 784)


def test_load_idx_dataset_count_mismatch(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), gz=True)
    with pytest.raises(DataError) as info:
        load_idx_dataset(tmp_path)
    msg = str(info.value)
    assert "5 images" in msg and "4 labels" in msg


def test_load_idx_dataset_missing_file(tmp_path):
    make_dataset(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError) as info:
        load_idx_dataset(tmp_path)
    msg = str(info.value)
    assert "t10k-labels-idx1-ubyte" in msg and "t10k-labels-idx1-ubyte.gz" in msg and str(tmp_path) in msg


def test_load_idx_dataset_wrong_kind_of_file(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 784), np.float32))
    with pytest.raises(DataError, match="unsigned-byte images"):
        load_idx_dataset(tmp_path)


def test_load_idx_dataset_bad_name_and_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_idx_dataset(tmp_path, name="cifar10")
    with pytest.raises(DataError, match="does not exist"):
        load_idx_dataset(tmp_path / "nowhere")


def test_default_data_dir(tmp_path, monkeypatch):
    assert data.default_data_dir("mnist") is None
    monkeypatch.setattr(data.idx, "_DEBIAN_FASHION_MNIST", str(tmp_path))
    assert data.default_data_dir("fashion-mnist") == str(tmp_path)
    make_dataset(tmp_path)
    assert load_idx_dataset(None, name="fashion-mnist")[0].shape == (5, 784)
    monkeypatch.setattr(data.idx, "_DEBIAN_FASHION_MNIST", str(tmp_path / "absent"))
    assert data.default_data_dir("fashion-mnist") is None
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_idx_dataset(None, name="fashion-mnist")
    with pytest.raises(DataError, match="no data_dir"):
        load_idx_dataset(None, name="mnist")


# --------------------------------------------------------------------------- digits

def test_load_digits():
    pytest.importorskip("sklearn")
    X_train, y_train, X_test, y_test = load_digits(test_fraction=0.2, seed=0)
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    for X in (X_train, X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    everything = np.concatenate([y_train, y_test])
    per_class = np.bincount(everything, minlength=10)
    assert per_class.sum() == 1797 and per_class.min() >= 170  # the digits set is nearly balanced
    # stratified: each class's test share is within one sample of 20 %
    test_counts = np.bincount(y_test, minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * per_class) <= 1)
    # seeded
    again = load_digits(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again[0], X_train)
    np.testing.assert_array_equal(again[3], y_test)
    other = load_digits(test_fraction=0.2, seed=1)
    assert not np.array_equal(other[0], X_train)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.0)


def test_load_digits_without_sklearn_says_how_to_install(monkeypatch):
    for mod in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, mod, None)  # makes `import sklearn...` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'gpugrad\[train\]'"):
        load_digits()


def test_standardize():
    rng = np.random.default_rng(0)
    X_train = rng.normal(3.0, 2.0, (200, 4)).astype(np.float32)
    X_train[:, 3] = 7.0  # a constant feature is only centred
    X_test = rng.normal(3.0, 2.0, (50, 4)).astype(np.float32)
    A, B, (mean_, std_) = data.standardize(X_train, X_test)
    assert A.dtype == np.float32 and B.dtype == np.float32
    np.testing.assert_allclose(A.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(A[:, :3].std(axis=0), 1.0, atol=1e-5)
    assert np.all(A[:, 3] == 0.0)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    np.testing.assert_allclose(B[:, :3], (X_test[:, :3] - mean[:3]) / std[:3], rtol=1e-5, atol=1e-6)
    assert data.standardize(X_train)[1] is None
    np.testing.assert_allclose(std_[:3], std[:3], rtol=1e-5)
    # a floor on the std keeps a nearly constant feature from blowing up
    X_train[:5, 3] = 7.001
    floored = data.standardize(X_train, X_test, min_std=0.1)
    assert floored[2][1][3] == np.float32(0.1)


# --------------------------------------------------------------------------- DataLoader

def toy(n=10, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return X, y


def raw_loader(X, y, batch_size, **kw):
    return DataLoader(X, y, batch_size, device="cpu", as_tensors=False, **kw)


def epoch_labels(loader):
    return np.concatenate([yb for _, yb in loader]) if len(loader) else np.zeros(0, np.int64)


@pytest.mark.parametrize("n, bs, drop_last, sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]),
    (2, 5, True, []),
    (0, 4, False, []),
])
def test_batch_counts(n, bs, drop_last, sizes):
    X, y = toy(n)
    for shuffle in (False, True):
        loader = raw_loader(X, y, bs, drop_last=drop_last, shuffle=shuffle, seed=0)
        assert len(loader) == len(sizes)
        got = [(xb.shape[0], yb.shape[0]) for xb, yb in loader]
        assert got == [(s, s) for s in sizes]


@pytest.mark.parametrize("preload", [True, False, None])
def test_every_sample_once_per_epoch(preload):
    X, y = toy(23)
    loader = raw_loader(X, y, 4, shuffle=True, seed=3, preload=preload)
    for _ in range(3):
        seen_x, seen_y = [], []
        for xb, yb in loader:
            assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray)
            seen_x.append(xb)
            seen_y.append(yb)
        xs, ys = np.concatenate(seen_x), np.concatenate(seen_y)
        np.testing.assert_array_equal(np.sort(ys), np.arange(23))
        np.testing.assert_array_equal(xs, X[ys])  # rows stay paired with their labels


def test_no_shuffle_keeps_order():
    X, y = toy(10)
    loader = raw_loader(X, y, 4)
    for _ in range(2):
        np.testing.assert_array_equal(epoch_labels(loader), y)


def test_shuffle_order_depends_only_on_seed_and_epoch():
    X, y = toy(50)
    a = raw_loader(X, y, 8, shuffle=True, seed=11)
    orders = [epoch_labels(a) for _ in range(3)]  # epochs 0, 1, 2
    assert a.epoch == 3
    assert not np.array_equal(orders[0], orders[1])  # different epoch, different order
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(50))

    b = raw_loader(X, y, 8, shuffle=True, seed=11)  # same seed: same orders
    assert [e.tolist() for e in (epoch_labels(b) for _ in range(3))] == [o.tolist() for o in orders]

    c = raw_loader(X, y, 5, shuffle=True, seed=11, preload=False)  # resumed at epoch 2, other batch size
    c.set_epoch(2)
    np.testing.assert_array_equal(epoch_labels(c), orders[2])
    np.testing.assert_array_equal(c.indices(1), orders[1])
    c.set_epoch(1)
    np.testing.assert_array_equal(epoch_labels(c), orders[1])  # set_epoch can go back, too

    d = raw_loader(X, y, 8, shuffle=True, seed=12)
    assert not np.array_equal(epoch_labels(d), orders[0])  # different seed, different order


def test_the_epoch_advances_when_a_pass_hands_out_its_last_batch():
    X, y = toy(10)
    loader = raw_loader(X, y, 3, shuffle=True, seed=0)
    it = iter(loader)
    assert loader.epoch == 0             # iter() alone changes nothing
    iter(loader)
    first = [batch[1] for _, batch in zip(range(3), it)]
    assert loader.epoch == 0             # three of the four batches handed out
    first.append(next(it)[1])
    assert loader.epoch == 1             # the last one completes epoch 0
    np.testing.assert_array_equal(np.concatenate(first), loader.indices(0))
    assert next(it, None) is None and loader.epoch == 1


def test_seed_none_follows_manual_seed():
    X, y = toy(30)
    backend.manual_seed(123)
    a = epoch_labels(raw_loader(X, y, 7, shuffle=True))
    backend.manual_seed(123)
    b = epoch_labels(raw_loader(X, y, 7, shuffle=True))
    np.testing.assert_array_equal(a, b)


def test_preload_choice(monkeypatch):
    X, y = toy(10)
    assert raw_loader(X, y, 2).preload is True  # tiny: preloaded
    assert raw_loader(X, y, 2, preload=False).preload is False
    monkeypatch.setattr(data.arrays, "PRELOAD_LIMIT_BYTES", X.nbytes + y.nbytes - 1)
    big = raw_loader(X, y, 4, shuffle=True, seed=5)
    assert big.preload is False
    small = raw_loader(X, y, 4, shuffle=True, seed=5, preload=True)
    for (xa, ya), (xb, yb) in zip(big, small):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("bad", [0, -1, 2.0, "4", True])
def test_bad_batch_size(bad):
    X, y = toy(4)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(X, y, bad)


def test_bad_arguments():
    X, y = toy(4)
    with pytest.raises(ValueError, match=r"the same number of samples .*got shapes \(4, 3\) and \(3,\)"):
        DataLoader(X, y[:3], 2, device="cpu")
    with pytest.raises(ValueError, match="seed"):
        DataLoader(X, y, 2, seed=-1, device="cpu")
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(X, y, 2, device="cpu").set_epoch(-1)


def test_device_resolution():
    X, y = toy(4)
    assert DataLoader(X, y, 2, device="cpu").device == "cpu"
    assert DataLoader(X, y, 2).device is backend.get_default_device()
    assert "batch_size=2" in repr(DataLoader(X, y, 2, device="cpu"))


def test_label_batches_carry_the_bounds_of_all_labels():
    """Labels read on the host give every batch known value bounds, so a GPU loss checks them
    without reading the batch back."""
    X, y = toy(10)
    for _, yb in DataLoader(X, y, 4, shuffle=True, seed=0, device="cpu"):
        assert yb.value_bounds == (int(y.min()), int(y.max()))


@pytest.mark.parametrize("shuffle", [False, True])
def test_yields_tensors_with_dtypes(shuffle):
    X, y = toy(10)
    loader = DataLoader(X, y, 4, shuffle=shuffle, seed=0, device="cpu")
    batches = list(loader)
    assert len(batches) == 3
    for xb, yb in batches:
        assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
        assert xb.data.dtype == np.float32 and yb.data.dtype == np.int64
        assert isinstance(xb.data, np.ndarray) and xb.data.shape[1] == 3
        assert not xb.requires_grad and not yb.requires_grad
    ys = np.concatenate([yb.data for _, yb in batches])
    np.testing.assert_array_equal(np.sort(ys), np.arange(10))
    np.testing.assert_array_equal(np.concatenate([xb.data for xb, _ in batches]), X[ys])
