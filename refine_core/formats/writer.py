"""Write the interchange file (DESIGN.md section 2), atomically."""
import os
import zipfile

import numpy as np

from ..atomic import atomic_write
from ..errors import BadInputError
from .convert import INTERCHANGE_KEYS, as_extra_array


def interchange_arrays(motion):
    """The npz content for ``motion``: the interchange keys, then its extras.

    poses (T, 72) float64 axis-angle, SMPL joint order, root first; trans
    (T, 3); betas (10,) (zeros when unknown); mocap_framerate (float);
    gender and up_axis when known; then every ``meta["extras"]`` key as it
    is (an extra named like an interchange key never replaces it).
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
    for key, value in (meta.get("extras") or {}).items():
        arr = as_extra_array(value)
        if key not in INTERCHANGE_KEYS and arr is not None:
            arrays[str(key)] = arr
    return arrays


def write_npz(motion, path):
    """Write ``motion`` to ``path`` as the interchange .npz.

    The motion is validated first (BadInputError naming ``path`` if it is
    not writable data). The file is written to a temporary file in the same
    folder and moved over ``path`` with ``os.replace``: readers see the old
    file or the whole new one, never a partial file; on any error the
    temporary file is removed. Unwritable destinations are BadInputError.
    """
    path = os.fspath(path)
    arrays = interchange_arrays(motion.replace().validate(path))
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise BadInputError(path, "is a folder; give a file name for the output")
    if not os.path.isdir(folder):
        raise BadInputError(path, f"cannot write: folder {folder} does not exist")
    with atomic_write(path) as f:
        _write_zip(f, arrays)


def _write_zip(f, arrays):
    """np.savez's layout (one .npy per key, stored), without its keyword
    arguments, so that keys such as "file" are written like any other."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=True)
