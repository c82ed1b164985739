"""Open a motion file by its content: npz, npy, pickle/joblib or PyTorch.

``load_container(path)`` returns ``(container, obj)``: container is "npz",
"npy", "pkl" or "pt" (from the bytes, not the extension) and obj is a dict
or an ndarray with tensors turned into numpy arrays. Every failure is a
BadInputError naming the file.
"""
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from ..errors import BadInputError
from .safe_pickle import _SafeUnpickler, _reason, load_pickle, load_torch

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# torch.save before PyTorch 1.6: a pickle whose first object is this number.
_TORCH_LEGACY = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
# Pickle protocol >= 2, or the magic of a joblib compressor (zlib, gzip,
# bz2, xz, lzma, lz4).
_PICKLE_STARTS = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"]\x00\x00", b"\x04\x22\x4d\x18")


def load_container(path):
    """(container id, dict or ndarray) for ``path``; see the module doc."""
    path = os.fspath(path)
    head = _head(path)
    if head.startswith(_ZIP_MAGICS):
        if _is_torch_zip(path):
            return "pt", to_numpy_tree(load_torch(path))
        return "npz", _load_npz(path)
    if head.startswith(_NPY_MAGIC):
        return "npy", _load_npy(path)
    if head.startswith(_TORCH_LEGACY):
        return "pt", to_numpy_tree(load_torch(path))
    if head.startswith(_PICKLE_STARTS):
        return "pkl", to_numpy_tree(load_pickle(path))
    raise BadInputError(path, f"unknown format: not an .npz, .npy, pickle/joblib or PyTorch file (starts with {head[:8]!r})")


def _head(path, n=16):
    """First bytes; BadInputError for missing, unreadable or empty files."""
    try:
        with open(path, "rb") as f:
            head = f.read(n)
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    except IsADirectoryError:
        raise BadInputError(path, "is a folder, not a motion file") from None
    except OSError as exc:
        raise BadInputError(path, f"cannot read the file ({_reason(exc)})") from None
    if not head:
        raise BadInputError(path, "file is empty")
    return head


def _is_torch_zip(path):
    """torch.save's zip holds '<name>/data.pkl'; an npz holds only .npy members."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("data.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False  # _load_npz reports the corruption


def _load_npz(path):
    """dict of the .npy members (object arrays through the safe unpickler)."""
    try:
        with zipfile.ZipFile(path) as zf:
            out = {}
            for name in zf.namelist():
                if name.endswith(".npy"):
                    with zf.open(name) as member:
                        out[name[:-4]] = _read_npy(member, path, zf.getinfo(name).file_size)
            return out
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile/numpy errors are bad content
        # A cut zip has lost its member list, so .npz and PyTorch .pt look alike.
        kind = ".npz or PyTorch .pt zip" if isinstance(exc, zipfile.BadZipFile) else ".npz"
        raise BadInputError(path, f"truncated or corrupt {kind} ({_reason(exc)})") from None


def _load_npy(path):
    try:
        with open(path, "rb") as f:
            arr = _read_npy(f, path, os.path.getsize(path))
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BadInputError(path, f"truncated or corrupt .npy ({_reason(exc)})") from None
    if arr.dtype == object and arr.shape == ():  # np.save of a dict
        return to_numpy_tree(arr.item())
    return arr


def _read_npy(f, path, size):
    """One .npy stream; object arrays are a pickle, read through the allow-list."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        return _SafeUnpickler(path, f, size, "not-compressed").load()
    count = int(np.prod(shape, dtype=object))
    if count * dtype.itemsize > size:
        raise ValueError(f"header says {shape} {dtype} but the data is smaller")
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("array data is truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return (arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)).copy()


def to_numpy_tree(obj):
    """Recursively turn torch tensors into numpy arrays; mappings become dicts."""
    if isinstance(obj, Mapping):
        return {k: to_numpy_tree(v) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(to_numpy_tree(v) for v in obj)
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):
        tensor = obj.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError:  # bfloat16 and friends have no numpy dtype
            return tensor.float().numpy()
    return obj
