"""Load pickles and PyTorch files without running code from them.

A pickle names the callables that rebuild its objects; the plain unpickler
imports and calls whatever it names (``os.system`` included). Here every
name goes through an allow-list: numpy array reconstruction, numpy dtypes
and scalars, builtin containers, ``collections.OrderedDict``/``defaultdict``,
joblib's ``NumpyArrayWrapper`` and the two torch functions a pickled tensor
needs. Anything else is a ``BadInputError`` ("refusing to unpickle ...")
raised before the named object is even imported.

joblib files (VIBE, TCMR, WHAM, PHALP) are pickles followed by raw array
bytes, possibly compressed; they are read with joblib's own
``NumpyUnpickler``, subclassed to use the allow-list and to check each array
header against the file before allocating. Plain ``pickle.dump`` files are
valid input for the same unpickler. ``.pt`` files load with
``torch.load(weights_only=True)``, numpy arrays allowed through torch's own
allow-list mechanism.
"""
import _compat_pickle
import math
import os
import pickle
import re
import types
import warnings

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_utils import _detect_compressor, _validate_fileobject_and_memmap

from ..errors import BadInputError

try:  # numpy >= 2 names; numpy 1.26 has only a partial numpy._core shim
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

# What a file may declare, in bytes: an uncompressed file holds its arrays'
# bytes, so its own size bounds them; compressed data may expand up to
# EXPANSION times the file; any file may declare FLOOR_BYTES (small files
# with a few zero arrays); nothing more than MAX_BYTES.
FLOOR_BYTES = 64 << 20
EXPANSION = 64
MAX_BYTES = 4 << 30
# The joblib array record's attributes (joblib 1.6 NumpyArrayWrapper.__init__).
_WRAPPER_STATE = frozenset({"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"})


def byte_limit(file_size: int, compressed: bool) -> int:
    """The most bytes of arrays and buffers a file of ``file_size`` bytes may declare."""
    return min(MAX_BYTES, max(FLOOR_BYTES, file_size * (EXPANSION if compressed else 1)))


def load_pickle(path):
    """Unpickle ``path`` (plain pickle or joblib, any joblib compression).

    Returns the object; raises BadInputError naming the file for refused
    classes and for any malformed content.
    """
    return _load(path, {})


def load_smpl_model_pickle(path):
    """An SMPL model .pkl as {key: value} with numpy arrays.

    The official files (Python 2 pickles) hold chumpy arrays (``v_template``,
    ``shapedirs``) and scipy sparse matrices (``J_regressor``); chumpy does
    not import on current numpy. Here they unpickle into stand-ins and come
    out as plain (dense) arrays; everything else goes through the same
    allow-list as motion files.
    """
    obj = _load(path, _model_classes())
    if not isinstance(obj, dict):
        raise BadInputError(path, f"not a SMPL model file: the pickle holds a {type(obj).__name__}, not a dict")
    try:
        return {k: _unstub(v) for k, v in obj.items()}
    except (ValueError, TypeError, KeyError) as exc:
        raise BadInputError(path, f"not a SMPL model file ({_reason(exc)})") from None


def _load(path, extra_classes):
    path = os.fspath(path)
    try:
        with open(path, "rb") as raw:
            compressor = _detect_compressor(raw)
            if compressor == "compat":
                raise BadInputError(path, "joblib file from joblib < 0.10 (arrays in side files) is not supported")
            with _validate_fileobject_and_memmap(raw, path, None) as (fobj, _):
                return _SafeUnpickler(path, fobj, os.path.getsize(path), compressor, extra_classes).load()
    except BadInputError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise BadInputError(path, f"pickle is malformed or too large to load ({type(exc).__name__})") from None
    except OSError as exc:
        raise BadInputError(path, f"cannot read the file ({_reason(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - any failure of the content is bad input
        raise BadInputError(path, f"not a readable pickle/joblib file ({_reason(exc)})") from None


def load_torch(path):
    """``torch.load(path, weights_only=True)`` with numpy arrays allowed.

    Returns the loaded object (tensors stay tensors); BadInputError for
    refused globals and malformed files.
    """
    import torch

    path = os.fspath(path)
    try:
        # torch's own deprecation notices (TypedStorage, quantized tensors) are not about the user's file
        with torch.serialization.safe_globals(_torch_numpy_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        text = str(exc)
        refused = re.search(r"GLOBAL ([\w.]+)", text)
        if refused:
            raise BadInputError(path, f"refusing to unpickle {refused.group(1)}: PyTorch files are loaded with "
                                      "weights_only=True, which allows tensors and plain data only") from None
        raise BadInputError(path, f"not a readable PyTorch file ({_reason(exc)})") from None


def _reason(exc):
    """First line of an exception message, for one-line errors."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _CheckedArrayWrapper(NumpyArrayWrapper):
    """joblib's array record, checked before joblib allocates and reads it."""

    def read(self, unpickler, ensure_native_byte_order):
        _check_wrapper(self, unpickler)
        return super().read(unpickler, ensure_native_byte_order)


def _check_wrapper(wrapper, unpickler):
    """Refuse array records whose header is not a plain, plausible array."""
    path = unpickler.filename
    shape, dtype = getattr(wrapper, "shape", None), getattr(wrapper, "dtype", None)
    if getattr(wrapper, "subclass", None) is not np.ndarray:
        raise BadInputError(path, "joblib array record of a type other than numpy.ndarray")
    if not isinstance(dtype, np.dtype) or getattr(wrapper, "order", None) not in ("C", "F"):
        raise BadInputError(path, "joblib array record with an invalid dtype or order")
    if not isinstance(shape, tuple) or not all(isinstance(n, int | np.integer) and n >= 0 for n in shape):
        raise BadInputError(path, f"joblib array record with an invalid shape {shape!r}")
    if dtype.hasobject:
        return  # its elements are a nested pickle, read through the same allow-list
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if not unpickler.compressed and nbytes > unpickler.file_size:  # its bytes follow it in this very file
        raise BadInputError(path, f"joblib array record of {nbytes} bytes is larger than the file can hold "
                                  "(truncated or corrupt)")
    unpickler.spend(nbytes, "joblib array record")


class _SafeUnpickler(NumpyUnpickler):
    """joblib's NumpyUnpickler with an allow-list ``find_class``, size caps on
    every constructor that allocates, and no BUILD on anything but instances."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def __init__(self, path, fileobj, file_size, compressor, extra_classes=None):
        super().__init__(path, fileobj, ensure_native_byte_order=True)
        self.encoding = "latin1"  # Python 2 pickles: numpy's recommended setting
        self.file_size, self.compressed = file_size, compressor != "not-compressed"
        self.max_array_bytes = byte_limit(file_size, self.compressed)
        self.spent = 0
        self.extra_classes = extra_classes or {}
        # A fresh class per load: nothing a file does to it outlives the load.
        self.wrapper_class = type("_CheckedArrayWrapper", (_CheckedArrayWrapper,), {})

    def spend(self, nbytes, what):
        """Count ``nbytes`` the file declares against what it may; BadInputError past that."""
        self.spent += nbytes
        if self.spent > self.max_array_bytes:
            raise BadInputError(self.filename, f"{what} declares {nbytes} bytes, more than this file can hold "
                                               f"({self.max_array_bytes} bytes at most); truncated, corrupt or hostile")

    def _check_call(self, func, args):
        """Refuse allocations larger than the file could hold before they happen."""
        nbytes = _declared_bytes(func, args)
        if nbytes:
            self.spend(nbytes, f"{getattr(func, '__name__', 'constructor')} call")

    def load_reduce(self):
        self._check_call(self.stack[-2], self.stack[-1])
        super().load_reduce()

    def load_newobj(self):
        self._check_call(self.stack[-2], self.stack[-1])
        super().load_newobj()

    def load_newobj_ex(self):
        self._check_call(self.stack[-3], self.stack[-2])
        super().load_newobj_ex()

    def _instantiate(self, klass, args):
        self._check_call(klass, args)
        super()._instantiate(klass, args)

    def load_build(self):
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, type | types.FunctionType | types.BuiltinFunctionType | types.ModuleType):
            raise BadInputError(self.filename, f"pickle sets attributes of {getattr(inst, '__name__', inst)!r} "
                                               "(BUILD on a class or function); not a data file")
        if isinstance(inst, NumpyArrayWrapper) and not (isinstance(state, dict) and set(state) <= _WRAPPER_STATE):
            raise BadInputError(self.filename, "joblib array record with unexpected attributes; not a data file")
        NumpyUnpickler.load_build(self)

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module, name):
        if self.proto < 3:  # Python 2 era names, as the standard unpickler maps them
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if name == "NumpyArrayWrapper" and module in _WRAPPER_MODULES:
            return self.wrapper_class
        resolve = self.extra_classes.get((module, name)) or _allowed().get((module, name))
        if resolve is None:
            raise BadInputError(
                self.filename,
                f"refusing to unpickle {module}.{name}: not one of the data types this reader allows "
                "(a pickle can run code when loaded; only arrays and plain containers are read)",
            )
        return resolve()

    def persistent_load(self, pid):
        raise BadInputError(self.filename, "pickle refers to external objects (persistent ids); "
                                           "not a data file this reader knows")


_ALLOWED = None
_WRAPPER_MODULES = ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle")


def _declared_bytes(func, args):
    """Bytes a call of an allow-listed allocator would take (0 when it takes
    no size from its arguments, or the arguments are not what it accepts)."""
    try:
        if func in (bytearray, bytes):
            return args[0] if args and type(args[0]) is int else 0
        if func is _multiarray._reconstruct:  # (subtype, shape, dtype)
            return _array_bytes(args[1], np.dtype(args[2]))
        if isinstance(func, type) and issubclass(func, np.ndarray):  # ndarray(shape, dtype=float, buffer, ...)
            return _array_bytes(args[0], np.dtype(args[1] if len(args) > 1 else float))
        if getattr(func, "__name__", "") == "_rebuild_tensor_v2":  # (storage, offset, size, stride, ...)
            return _array_bytes(args[2], np.dtype(np.float64))  # the largest element size torch files use
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0  # the call itself will refuse these arguments
    return 0


def _array_bytes(shape, dtype):
    dims = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    return max(0, math.prod(int(n) for n in dims)) * dtype.itemsize


def _allowed():
    """(module, name) -> zero-argument resolver; torch resolved lazily."""
    global _ALLOWED
    if _ALLOWED is None:
        import builtins
        import codecs
        import collections

        table = {("builtins", n): _const(getattr(builtins, n))
                 for n in ("dict", "list", "tuple", "set", "frozenset", "bytearray", "bytes",
                           "str", "int", "float", "complex", "bool", "slice")}
        table[("collections", "OrderedDict")] = _const(collections.OrderedDict)
        table[("collections", "defaultdict")] = _const(collections.defaultdict)
        table[("_codecs", "encode")] = _const(codecs.encode)  # bytes in protocol-2 pickles
        table[("numpy", "ndarray")] = _const(np.ndarray)
        table[("numpy", "dtype")] = _const(np.dtype)
        for mod in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 spellings
            table[(f"{mod}.multiarray", "_reconstruct")] = _const(_multiarray._reconstruct)
            table[(f"{mod}.multiarray", "scalar")] = _const(_multiarray.scalar)
            table[(f"{mod}.numeric", "_frombuffer")] = _const(_numeric._frombuffer)
        table[("torch._utils", "_rebuild_tensor_v2")] = _torch_rebuild_tensor
        table[("torch.storage", "_load_from_bytes")] = lambda: _safe_load_from_bytes
        _ALLOWED = table
    return _ALLOWED


def _const(obj):
    return lambda: obj



def _torch_rebuild_tensor():
    import torch._utils

    return torch._utils._rebuild_tensor_v2


def _safe_load_from_bytes(data):
    """A pickled torch storage is a nested torch.save; load it weights-only."""
    import io

    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class _PickledState:
    """Stand-in for a class of SMPL model files: keeps the pickled state only."""

    def __setstate__(self, state):
        self.state = state


class _ChumpyArray(_PickledState):
    """chumpy.Ch: the array is its ``x``."""


class _SparseMatrix(_PickledState):
    """scipy.sparse csc/csr matrix: data, indices, indptr, _shape, format."""


def _unstub(value):
    """Stand-ins -> numpy arrays (sparse matrices densified); others as they are."""
    if isinstance(value, _ChumpyArray):
        return np.asarray(value.state["x"])
    if isinstance(value, _SparseMatrix):
        import scipy.sparse

        st = value.state
        make = {"csc": scipy.sparse.csc_matrix, "csr": scipy.sparse.csr_matrix}[st.get("format", "csc")]
        arrays = tuple(np.asarray(st[k]) for k in ("data", "indices", "indptr"))
        return make(arrays, shape=tuple(int(n) for n in st["_shape"])).toarray()
    return value


def _model_classes():
    import copyreg

    table = {("chumpy.ch", "Ch"): _const(_ChumpyArray),
             ("copyreg", "_reconstructor"): _const(copyreg._reconstructor),  # protocol 0/1 objects
             ("builtins", "object"): _const(object)}
    for kind in ("csc", "csr"):  # scipy module paths: old, then >= 1.8
        for mod in (f"scipy.sparse.{kind}", f"scipy.sparse._{kind}"):
            table[(mod, f"{kind}_matrix")] = _const(_SparseMatrix)
    return table


def _torch_numpy_globals():
    """numpy objects that torch's weights-only unpickler may rebuild."""
    dtype_classes = {type(np.dtype(c)) for c in np.typecodes["All"] if c not in "Mm"}
    return [_multiarray._reconstruct, _multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]
