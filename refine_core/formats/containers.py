"""Open a motion file by its content: npz, npy, pickle/joblib or PyTorch.

``load_container(path)`` returns ``(container, obj)``: container is "npz",
"npy", "pkl" or "pt" (from the bytes, not the extension) and obj is a dict
or an ndarray with tensors turned into numpy arrays. Every failure is a
BadInputError naming the file.

Bounded by what the file can hold: only regular files are opened (a FIFO or
a device would block or never end); every array, buffer and zip member a
file declares counts against ``safe_pickle.byte_limit`` of its size before
it is allocated. An npz member or an array past that limit becomes an
``Oversize`` placeholder: a reader that needs it refuses the file naming
it, an extra is dropped with an ``InputWarning``. Nesting deeper than
MAX_DEPTH, structures that contain themselves and structures that expand
past MAX_NODES values are refused.
"""
import os
import stat
import warnings
import zipfile
from collections.abc import Mapping

import numpy as np

from ..errors import BadInputError, InputWarning
from .safe_pickle import EXPANSION, FLOOR_BYTES, _reason, _SafeUnpickler, byte_limit, load_pickle, load_torch

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# torch.save before PyTorch 1.6: a pickle whose first object is this number.
_TORCH_LEGACY = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
# Pickle protocol >= 2, or the magic of a joblib compressor (zlib, gzip,
# bz2, xz, lzma, lz4).
_PICKLE_STARTS = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"]\x00\x00", b"\x04\x22\x4d\x18")
_COMPRESSED_PICKLE_STARTS = _PICKLE_STARTS[1:]
MAX_DEPTH = 64
MAX_NODES = 10_000_000
_CHUNK = 16 << 20


class Oversize:
    """Stands in for an array or npz member larger than its file may declare."""

    def __init__(self, src, key, nbytes, limit):
        self.src, self.key, self.nbytes, self.limit = src, key, int(nbytes), int(limit)

    @property
    def problem(self) -> str:
        return (f"{self.key} declares {self.nbytes} bytes, more than this file can hold "
                f"({self.limit} bytes at most); truncated, corrupt or hostile")

    def warn_dropped(self):
        # Reported against the input file (line 0: no source line is printed under it).
        warnings.warn_explicit(f"dropped extra '{self.key}': {self.problem}; not copied to outputs", InputWarning,
                               str(self.src), 0)

    def __repr__(self):
        return f"<Oversize {self.key}: {self.nbytes} bytes>"


def load_container(path):
    """(container id, dict or ndarray) for ``path``; see the module doc."""
    path = os.fspath(path)
    head = _head(path)
    size = os.path.getsize(path)
    if head.startswith(_ZIP_MAGICS):
        if _is_torch_zip(path):
            return "pt", to_numpy_tree(load_torch(path), path, byte_limit(size, False))
        return "npz", _load_npz(path, size)
    if head.startswith(_NPY_MAGIC):
        return "npy", _load_npy(path, size)
    if head.startswith(_TORCH_LEGACY):
        return "pt", to_numpy_tree(load_torch(path), path, byte_limit(size, False))
    if head.startswith(_PICKLE_STARTS):
        return "pkl", to_numpy_tree(load_pickle(path), path, byte_limit(size, head.startswith(_COMPRESSED_PICKLE_STARTS)))
    raise BadInputError(path, f"unknown format: not an .npz, .npy, pickle/joblib or PyTorch file (starts with {head[:8]!r})")


def _head(path, n=16):
    """First bytes; BadInputError for missing, unreadable, empty or non-regular files."""
    try:
        mode = os.stat(path).st_mode  # before opening: opening a FIFO blocks until a writer comes
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    except OSError as exc:
        raise BadInputError(path, f"cannot read the file ({_reason(exc)})") from None
    if stat.S_ISDIR(mode):
        raise BadInputError(path, "is a folder, not a motion file")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise BadInputError(path, f"is {kind}, not a regular file; give a motion file")
    try:
        with open(path, "rb") as f:
            head = f.read(n)
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


def _load_npz(path, size):
    """dict of the .npy members (object arrays through the safe unpickler).

    Each member's declared size is checked before it is read: a deflated
    member may expand EXPANSION times (or to FLOOR_BYTES), all members
    together to ``byte_limit``; members past that become Oversize. An npz
    holding only a dict (a 0-d object array, as ``np.savez(f, results=d)``
    writes it) is read as that dict, as a .npy holding one is.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            out, total, limit = {}, 0, byte_limit(size, True)
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                stored = info.compress_type == zipfile.ZIP_STORED
                declared = min(info.file_size, info.compress_size) if stored else info.file_size
                member_limit = declared if stored else max(FLOOR_BYTES, EXPANSION * info.compress_size)
                if declared > member_limit or total + declared > limit:
                    out[key] = Oversize(path, key, declared, min(member_limit, limit - total))
                    continue
                total += declared
                with zf.open(info) as member:
                    out[key] = _read_npy(member, path, declared)
    except BadInputError:
        raise
    except MemoryError:
        raise BadInputError(path, "too large to load (out of memory)") from None
    except Exception as exc:  # noqa: BLE001 - zipfile/numpy errors are bad content
        # A cut zip has lost its member list, so .npz and PyTorch .pt look alike.
        kind = ".npz or PyTorch .pt zip" if isinstance(exc, zipfile.BadZipFile) else ".npz"
        raise BadInputError(path, f"truncated or corrupt {kind} ({_reason(exc)})") from None
    out = to_numpy_tree(out, path, limit)
    only = dict_member(next(iter(out.values()))) if len(out) == 1 else None
    return out if only is None else only


def _load_npy(path, size):
    try:
        with open(path, "rb") as f:
            arr = _read_npy(f, path, size)
    except BadInputError:
        raise
    except MemoryError:
        raise BadInputError(path, "too large to load (out of memory)") from None
    except Exception as exc:  # noqa: BLE001
        raise BadInputError(path, f"truncated or corrupt .npy ({_reason(exc)})") from None
    arr = to_numpy_tree(arr, path, byte_limit(size, False))
    if isinstance(arr, np.ndarray) and arr.dtype == object and arr.shape == ():  # np.save of a dict (or any object)
        return arr.item()
    return arr


def dict_member(value):
    """A dict stored in an npz (a 0-d object array holding it), or the dict itself; else None."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        value = value.item()
    return value if isinstance(value, Mapping) else None


def _read_npy(f, path, size):
    """One .npy stream of at most ``size`` bytes; object arrays are a pickle,
    read through the allow-list."""
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
    data = bytearray(count * dtype.itemsize)  # read in place, in chunks: no second copy of the array
    view, got = memoryview(data), 0
    while got < len(data):
        n = f.readinto(view[got:got + _CHUNK])
        if not n:
            raise ValueError("array data is truncated")
        got += n
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def to_numpy_tree(obj, src=None, limit=None):
    """``obj`` with torch tensors turned into numpy arrays and mappings into dicts.

    src: the file, for messages; limit: the bytes all arrays together may
    take, counted at each place they appear (an array past it becomes an
    Oversize). BadInputError for nesting deeper than MAX_DEPTH, a structure
    that contains itself, more than MAX_NODES values in all, and tensors
    that are not plain dense data (sparse, quantized, nested, meta).
    """
    walker = _TreeWalker(src, limit)
    return walker.convert(obj, "", 0)


class _TreeWalker:
    def __init__(self, src, limit):
        self.src, self.limit = src, limit
        self.bytes = self.nodes = 0
        self.done, self.active = {}, set()  # id -> converted; ids on the current path

    def convert(self, obj, key, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise BadInputError(self.src, f"holds more than {MAX_NODES} values (nested or repeated structures); "
                                          "not a motion file")
        if isinstance(obj, np.ndarray) and obj.dtype != object:
            return self._array(obj, obj.nbytes, key, lambda: obj)
        if _is_tensor(obj):
            return self._tensor(obj, key)
        container = isinstance(obj, Mapping | list | tuple) or (isinstance(obj, np.ndarray) and obj.dtype == object)
        if not container:
            return obj
        if depth >= MAX_DEPTH:
            raise BadInputError(self.src, f"data nested more than {MAX_DEPTH} levels deep (at {_short(key)}); "
                                          "not a motion file")
        ident = id(obj)
        if ident in self.active:
            raise BadInputError(self.src, f"data contains itself (at {_short(key)}); not a motion file")
        if ident in self.done:  # shared, not cyclic: convert once, count every place it appears
            self.nodes += self.done[ident][1]
            return self.done[ident][0]
        self.active.add(ident)
        before = self.nodes
        if isinstance(obj, Mapping):
            out = {k: self.convert(v, f"{key}.{k}" if key else str(k), depth + 1) for k, v in obj.items()}
        elif isinstance(obj, np.ndarray):  # object array: check what it holds, keep it an object array
            out = np.empty(obj.shape, dtype=object)
            for idx, v in np.ndenumerate(obj):
                out[idx] = self.convert(v, key, depth + 1)
        else:
            items = [self.convert(v, f"{key}[{i}]", depth + 1) for i, v in enumerate(obj)]
            out = items if type(obj) is list else tuple(items) if type(obj) is tuple else type(obj)(items)
        self.active.discard(ident)
        self.done[ident] = (out, self.nodes - before, obj)  # obj kept alive so its id is not reused
        return out

    def _array(self, obj, nbytes, key, make):
        self.bytes += nbytes
        if self.limit is not None and self.bytes > self.limit:
            return Oversize(self.src, key or "the array", nbytes, max(0, self.limit - self.bytes + nbytes))
        return make()

    def _tensor(self, tensor, key):
        import torch

        name = key or "the tensor"
        kind = ("sparse" if tensor.layout != torch.strided else "meta" if tensor.is_meta
                else "quantized" if tensor.is_quantized else "nested" if tensor.is_nested else None)
        if kind:
            raise BadInputError(self.src, f"{name} is a {kind} tensor; only plain dense tensors are read")
        nbytes = tensor.numel() * tensor.element_size()

        def make():
            t = tensor.detach().cpu()
            try:
                return t.numpy()
            except TypeError:  # bfloat16 and friends have no numpy dtype
                return t.float().numpy()

        return self._array(tensor, nbytes, key, make)


def _short(key, limit=40):
    """A key path for a message: 'a.b[0]...[0]' cut in the middle when long."""
    if not key:
        return "the top"
    return key if len(key) <= limit else f"{key[:limit - 12]}...{key[-9:]}"


def _is_tensor(obj):
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach") and hasattr(obj, "numel")
