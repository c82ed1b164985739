"""Write the interchange file (docs/architecture.md, "Interchange file"), atomically."""
import os
import re
import warnings
import zipfile

import numpy as np

from ..atomic import atomic_write
from ..errors import InputWarning
from ..motion import Motion
from .convert import INTERCHANGE_KEYS, as_extra_array

# Characters that make a zip member name a path (or a drive) rather than one plain name.
_UNSAFE_IN_NAME = re.compile(r"[/\\:\x00-\x1f\x7f]")


def member_key(key: str) -> str:
    """``key`` as a plain npz member name: path separators, drive colons and
    control characters become "_" (``../../x`` -> ``.._.._x``, ``/abs/x`` ->
    ``_abs_x``), so no tool extracting the output writes outside its folder."""
    return _UNSAFE_IN_NAME.sub("_", str(key))


def interchange_arrays(motion, dest=None):
    """The npz content for ``motion``: the interchange keys, then its extras.

    poses (T, 72) float64 axis-angle, SMPL joint order, root first; trans
    (T, 3); betas (10,) (zeros when unknown); mocap_framerate (float);
    gender and up_axis when known; then every ``meta["extras"]`` key as it
    is (an extra named like an interchange key never replaces it). Extras
    whose names are paths are renamed (``member_key``), or dropped when the
    new name is taken, with an InputWarning naming ``dest``.
    """
    meta = motion.meta or {}
    betas = np.zeros(10) if motion.betas is None else np.asarray(motion.betas, dtype=np.float64)
    arrays = {
        "poses": motion.axis_angle(),
        "trans": np.asarray(motion.trans, dtype=np.float64),
        "betas": betas,
        "mocap_framerate": np.float64(motion.fps),
    }
    for key in ("gender", "up_axis"):
        if meta.get(key):
            arrays[key] = np.asarray(str(meta[key]))
    where = f"{dest}: " if dest else ""
    for key, value in (meta.get("extras") or {}).items():
        arr = as_extra_array(value)
        name = member_key(key)
        if key in INTERCHANGE_KEYS or arr is None:
            continue
        if name in arrays or name in INTERCHANGE_KEYS:
            warnings.warn(InputWarning(f"{where}extra key {key!r} dropped: its name is a path, and {name!r} is taken"),
                          stacklevel=2)
            continue
        if name != str(key):
            warnings.warn(InputWarning(f"{where}extra key {key!r} written as {name!r} (npz member names are not paths)"),
                          stacklevel=2)
        arrays[name] = arr
    return arrays


def write_npz(motion: Motion, path: str | os.PathLike) -> None:
    """Write ``motion`` to ``path`` as the interchange .npz.

    The motion is validated first (BadInputError naming ``path`` if it is
    not writable data). The file is written to a temporary file in the same
    folder and moved over ``path`` with ``os.replace``: readers see the old
    file or the whole new one, never a partial file; on any error the
    temporary file is removed. Destinations ``atomic.check_destination``
    refuses (a folder, a device, a FIFO, a symbolic link, a missing folder,
    a trailing separator) and unwritable ones are BadInputError.
    """
    path = os.fspath(path)
    arrays = interchange_arrays(motion.replace().validate(path), dest=path)
    with atomic_write(path) as f:
        _write_zip(f, arrays)


def _write_zip(f, arrays):
    """np.savez's layout (one .npy per key, stored), without its keyword
    arguments, so that keys such as "file" are written like any other."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=True)
