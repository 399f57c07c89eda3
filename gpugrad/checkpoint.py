"""Checkpoints: a model's parameters, its optimizer's state and JSON metadata in one ``.npz``.

The file holds plain arrays only, never pickles, so loading one cannot run code::

    model:<name>                    the model's state dict: parameters and persistent buffers
                                    (BatchNorm's running statistics), host copies, own dtypes
    optim:<index>:<buffer name>     the optimizer's per-parameter buffers (Adam's exp_avg, ...)
    __meta__                        uint8 array: UTF-8 JSON with the metadata the caller passed,
                                    plus the optimizer's non-array state (Adam's step counts)
                                    and hyper-parameters, and the parameters' names and shapes

:func:`save_checkpoint` writes a temporary file in the target's folder and renames it over the
target (``os.replace``), so a crash mid-write leaves the previous checkpoint as it was.
:func:`load_checkpoint` reads it back with ``allow_pickle=False``; :func:`restore` copies it into
a model and optimizer after checking that their parameters have the same names and shapes.
Every failure is a :class:`CheckpointError` whose message is one sentence saying what is wrong.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import backend

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "restore", "architecture_of", "atomic_write",
           "read_arrays", "read_header", "FORMAT", "VERSION", "META_KEY"]

FORMAT = "gpugrad-checkpoint"
VERSION = 1
META_KEY = _META = "__meta__"
_MODEL = "model:"
_OPTIM = "optim:"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, incomplete, or does not fit the model it is loaded into."""


# --------------------------------------------------------------------------- saving

def save_checkpoint(path, model, optimizer, meta: dict | None = None) -> str:
    """Write ``model``'s parameters, ``optimizer``'s state (``None`` for none) and ``meta`` (a
    JSON-serialisable dict) to ``path`` atomically. Arrays are copied to the host first.
    Returns the path written."""
    path = os.fspath(path)
    arrays = OrderedDict()
    params = []
    for name, p in model.state_dict().items():
        value = backend.to_numpy(p.array)
        arrays[_MODEL + name] = value
        params.append([name, list(value.shape), value.dtype.name])
    optim_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for index, state in sd["state"].items():
            for key, value in state.items():
                if backend.is_array(value):
                    arrays[f"{_OPTIM}{index}:{key}"] = backend.to_numpy(value)
                else:
                    scalars.setdefault(str(index), {})[key] = _jsonable(value)
        optim_meta = {"type": type(optimizer).__name__, "param_groups": _jsonable(sd["param_groups"]),
                      "state": scalars}
    header = {"format": FORMAT, "version": VERSION, "parameters": params, "optimizer": optim_meta,
              "meta": dict(meta or {})}
    try:
        text = json.dumps(header)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"cannot save checkpoint {path!r}: its metadata is not JSON-serialisable ({exc}).") from None
    arrays[_META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def atomic_write(path, write) -> None:
    """Call ``write(binary_file)`` on a new temporary file in ``path``'s folder, flush it to
    disk, then rename it over ``path``: readers see the old file or the new one, never a part.
    On any error the temporary file is removed and ``path`` is left as it was; an OSError (a
    full disk, a read-only folder) names ``path`` when it names no file of its own."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        _write_and_rename(path, folder, write)
    except OSError as exc:
        if exc.errno is not None and exc.filename is None:   # ENOSPC while writing names no file
            exc.filename = path
        raise
    _fsync_dir(folder)


def _write_and_rename(path, folder, write):
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600; give the file the mode open() would
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder):
    """Make the rename durable (POSIX); best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _jsonable(value):
    """Tuples to lists and NumPy scalars to Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- loading

def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns ``(model_state, optim_state, meta)``: ``model_state`` an ordered dict of parameter
    name -> NumPy array; ``optim_state`` a dict in the optimizer's ``state_dict()`` form (or None
    when no optimizer was saved); ``meta`` the dict given to :func:`save_checkpoint`.
    Raises :class:`CheckpointError` for a missing, truncated, corrupt or incomplete file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist.")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a directory, not a file.")
    arrays = read_arrays(path)
    header = read_header(path, arrays)
    if header.get("kind") is not None:
        raise CheckpointError(f"checkpoint {path!r} holds a {header['kind']} saved with gg.save, not a "
                              "training checkpoint: read it with gg.load.")
    for key in ("parameters", "optimizer", "meta"):
        if key not in header:
            raise CheckpointError(f"checkpoint {path!r} is incomplete: its metadata has no {key!r} entry.")
    model_state = _model_state(path, header, arrays)
    optim_state = _optim_state(path, header["optimizer"], arrays)
    leftover = sorted(arrays)
    if leftover:
        raise CheckpointError(f"checkpoint {path!r} has unexpected entries {leftover[:5]}.")
    if not isinstance(header["meta"], dict):
        raise CheckpointError(f"checkpoint {path!r} has malformed metadata: 'meta' is not an object.")
    return model_state, optim_state, header["meta"]


def read_arrays(path):
    """Every array of the .npz at ``path`` (a path or a binary file object) as a dict, each
    member's CRC checked, never unpickling; CheckpointError saying what is wrong otherwise."""
    try:
        if not zipfile.is_zipfile(path):  # a cut-off zip loses its directory, kept at the end
            if _head(path, 6) == b"\x93NUMPY":
                raise CheckpointError(
                    f"checkpoint {path!r} is a single .npy array, not a gpugrad checkpoint (.npz).")
            raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt: it is not a complete .npz (zip) file.")
        if hasattr(path, "seek"):
            path.seek(0)
            return _members(path)
        with open(path, "rb") as f:   # ours to close, also when a damaged zip makes np.load fail
            return _members(f)
    except CheckpointError:
        raise
    except PermissionError as exc:
        raise CheckpointError(f"checkpoint {path!r} cannot be read ({exc.strerror}).") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, RuntimeError) as exc:   # a damaged member's compression or encryption flags
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if reason.startswith("Object arrays cannot be loaded"):
            raise CheckpointError(f"checkpoint {path!r} holds pickled Python objects, which gpugrad never loads "
                                  "(a gpugrad checkpoint is plain arrays).") from None
        raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt and cannot be read ({reason}).") from None


def _members(f):
    with np.load(f, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}  # reading checks each member's CRC


def _head(source, n):
    """The first n bytes of a file, named by path or given as a binary file object."""
    if hasattr(source, "read"):
        source.seek(0)
        return source.read(n)
    with open(source, "rb") as f:
        return f.read(n)


def read_header(path, arrays):
    """The JSON metadata (taken out of ``arrays``), checked for format and version. A
    ``kind`` key names what gg.save stored (absent in a training checkpoint)."""
    if _META not in arrays:
        raise CheckpointError(
            f"checkpoint {path!r} has no {_META} entry: it was not written by gpugrad (save_checkpoint or gg.save).")
    raw = arrays.pop(_META)
    try:
        header = json.loads(raw.astype(np.uint8, copy=False).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path!r} has unreadable metadata ({exc}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path!r} is not a {FORMAT} file.")
    if header.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {header.get('version')!r}; this gpugrad reads "
                              f"version {VERSION}.")
    return header


def _model_state(path, header, arrays):
    """The parameters and buffers the header lists (taken out of ``arrays``), checked against it:
    shapes and dtypes as listed, floating point and finite (a NaN or infinite weight is never
    resumed), or an integer buffer listed as such."""
    model_state = OrderedDict()
    try:
        listed = [(str(entry[0]), tuple(int(d) for d in entry[1]), str(entry[2]) if len(entry) > 2 else None)
                  for entry in header["parameters"]]
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):
        raise CheckpointError(f"checkpoint {path!r} has malformed metadata: a bad 'parameters' list.") from None
    for name, shape, dtype in listed:
        value = arrays.pop(_MODEL + name, None)
        if value is None:
            raise CheckpointError(f"checkpoint {path!r} is incomplete: parameter {name!r} is listed but missing.")
        if value.shape != shape:
            raise CheckpointError(f"checkpoint {path!r} is inconsistent: parameter {name!r} has shape {value.shape}, "
                                  f"its metadata says {shape}.")
        if dtype is not None and value.dtype.name != dtype:
            raise CheckpointError(f"checkpoint {path!r} is inconsistent: parameter {name!r} has dtype {value.dtype}, "
                                  f"its metadata says {dtype}.")
        if not (value.dtype.kind in "iub" and dtype == value.dtype.name):   # an integer buffer
            _check_finite_floats(path, f"parameter {name!r}", value)    # (num_batches_tracked)
        model_state[name] = value
    return model_state


def _check_finite_floats(path, what, value):
    """A checkpoint's array must be floating point with finite values: CheckpointError otherwise."""
    if value.dtype.kind != "f":
        raise CheckpointError(f"checkpoint {path!r} has {what} of dtype {value.dtype}; a floating-point array "
                              "is expected.")
    bad = ~np.isfinite(value)
    if bad.any():
        raise CheckpointError(f"checkpoint {path!r} has {int(bad.sum())} non-finite values (NaN or inf) in {what} "
                              f"(first at index {tuple(int(i) for i in np.argwhere(bad)[0])}): it cannot be resumed; "
                              "use an earlier checkpoint.")


def _optim_state(path, info, arrays):
    if info is None:
        return None
    try:
        state = {}
        for index, scalars in info["state"].items():
            state.setdefault(int(index), {}).update(scalars)
        for key in [k for k in arrays if k.startswith(_OPTIM)]:
            _, index, name = key.split(":", 2)
            value = arrays.pop(key)
            _check_finite_floats(path, f"optimizer state {name!r} of parameter {index}", value)
            state.setdefault(int(index), {})[name] = value
        groups = [dict(g) for g in info["param_groups"]]
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
            g["params"] = [int(i) for i in g["params"]]
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise CheckpointError(f"checkpoint {path!r} has malformed optimizer state ({exc!r}).") from None
    return {"state": state, "param_groups": groups, "type": info.get("type")}


# --------------------------------------------------------------------------- restoring

def architecture_of(model) -> list:
    """``[(name, shape), ...]`` of a model's state (parameters and persistent buffers, such as
    BatchNorm's running statistics): what a checkpoint must match."""
    return [(name, tuple(t.shape)) for name, t in model.state_dict().items()]


def _describe(pairs) -> str:
    return ", ".join(f"{name} {tuple(shape)}" for name, shape in pairs) or "no parameters"


def restore(model, optimizer, model_state, optim_state=None, source="checkpoint"):
    """Copy a loaded checkpoint into ``model`` (and ``optimizer`` when both are given).

    The checkpoint's parameter names and shapes must equal the model's, and its optimizer must
    be of the same type; otherwise :class:`CheckpointError` names the difference and nothing
    is changed."""
    own = architecture_of(model)
    saved = [(name, tuple(v.shape)) for name, v in model_state.items()]
    if own != saved:
        own_d, saved_d = dict(own), dict(saved)
        diff_saved = [(n, s) for n, s in saved if own_d.get(n) != s]
        diff_own = [(n, s) for n, s in own if saved_d.get(n) != s]
        raise CheckpointError(
            f"{source} is for another architecture: it has {_describe(diff_saved)} where the model has "
            f"{_describe(diff_own)}.")
    if optimizer is not None and optim_state is not None:
        kind = optim_state.get("type")
        if kind is not None and kind != type(optimizer).__name__:
            raise CheckpointError(f"{source} holds the state of a {kind} optimizer, not {type(optimizer).__name__}.")
        # Optimizer.load_state_dict checks everything before it changes anything, and the model's
        # names and shapes are checked above: a failure here leaves both as they were.
        try:
            optimizer.load_state_dict({"state": optim_state["state"], "param_groups": optim_state["param_groups"]})
        except (ValueError, KeyError, TypeError, AttributeError, NotImplementedError, RuntimeError) as exc:
            raise CheckpointError(f"{source} has optimizer state that does not fit this optimizer ({exc}).") from None
    try:
        model.load_state_dict(model_state)
    except (ValueError, KeyError, TypeError) as exc:  # pragma: no cover  (checked above)
        raise CheckpointError(f"{source} does not fit the model ({exc}).") from None
