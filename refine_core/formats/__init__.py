"""Read every SMPL motion file people have; write the interchange file.

    read_motion(path, track=None, fps=None) -> Motion     validated, meta filled
    describe(path, track=None, fps=None) -> dict          what ``info`` prints
    write_npz(motion, path)                     the interchange .npz, atomically
    FORMATS                                     ((id, one-line description), ...)

The format is found from the content, not the extension: the container
(npz, npy, pickle/joblib, PyTorch) from the first bytes, then the layout
from the keys and shapes. Format ids are "<layout>_<container>", e.g.
"amass_npz", "vibe_pkl", "gvhmr_pt"; docs/formats.md describes each one.
Pickles never go through the plain unpickler (see safe_pickle). Every bad
input is a BadInputError whose one-line message names the file.

``motion.meta``: source (path str), format, track (id or None), tracks
([{"id", "frames"}] for multi-track files, else []), extras (the input's
other keys, as arrays; the writer keeps them), fps_assumed (True when the
file has no frame rate and the format's usual one, mostly 30, is used;
False when the caller gave ``fps``), fps_given (the caller's ``fps``, or
None), trans_assumed (True when the file
has no translation and zeros are used), and when known gender, up_axis
("Z", "Y" or "-Y") and dropped_keys (input keys with no array form).
"""
import os

import numpy as np

from ..errors import BadInputError
from ..motion import Motion, check_fps
from .containers import load_container
from .layouts import LAYOUTS, detect
from .writer import write_npz

__all__ = ["read_motion", "describe", "write_npz", "FORMATS"]

_DOC_ORDER = ("amass", "smplh", "smplx", "split", "array", "vibe", "wham", "phalp", "gvhmr",
              "aistpp", "glamr", "humandata", "pose_shape", "romp")
FORMATS = tuple((f"{layout.name}_{container}", layout.description)
                for layout in sorted(LAYOUTS, key=lambda lay: _DOC_ORDER.index(lay.name))
                for container in layout.containers)


def read_motion(path, track=None, fps: float | None = None) -> Motion:
    """The motion in ``path`` as a validated Motion (see the module doc for meta).

    track: the track/person to read from a multi-track file (its id, or the
    id as a string, as the CLI passes it); None picks the longest (the first
    of equally long ones). Single-motion files accept only None.
    fps: the motion's frame rate when the caller knows it (the video's, for
    estimator output without one); it replaces the file's or the assumed
    rate (fps_assumed is then False), within ``motion.MAX_FPS``.
    """
    path = os.fspath(path)
    try:
        container, obj = load_container(path)
        layout = _guarded("input", path, detect, obj, path)
        fmt = f"{layout.name}_{container}"
        tracks = [(_plain(tid), int(n)) for tid, n in _guarded(fmt, path, layout.tracks, obj)]
        chosen = _select_track(tracks, track, path)
        motion = _guarded(fmt, path, layout.read, obj, chosen, path)
    except (MemoryError, RecursionError) as exc:  # what the size and depth caps did not foresee
        raise BadInputError(path, f"too large or too deeply nested to read ({type(exc).__name__})") from None
    motion.meta.update(source=path, format=fmt, track=chosen,
                       tracks=[{"id": tid, "frames": n} for tid, n in tracks], fps_given=fps)
    if fps is not None:
        motion.fps = check_fps(fps, f"--fps {fps}")
        motion.meta["fps_assumed"] = False
    return motion.validate(path)


def describe(path, track=None, fps: float | None = None) -> dict:
    """What the file holds, as the ``info`` command prints it.

    Returns {path, format, description, frames, fps, fps_assumed, tracks
    ([{"id", "frames"}]), track, has_betas, gender, has_keypoints,
    keypoints_shape, extra_keys, up_axis}. Only the selected track is built;
    ``track`` and ``fps`` as for read_motion.
    """
    motion = read_motion(path, track, fps=fps)
    meta = motion.meta
    kp = motion.keypoints_2d
    return {
        "path": meta["source"],
        "format": meta["format"],
        "description": dict(FORMATS).get(meta["format"], _layout_description(meta["format"])),
        "frames": motion.num_frames,
        "fps": motion.fps,
        "fps_assumed": meta["fps_assumed"],
        "tracks": meta["tracks"],
        "track": meta["track"],
        "has_betas": motion.betas is not None,
        "gender": meta.get("gender"),
        "has_keypoints": kp is not None,
        "keypoints_shape": None if kp is None else tuple(kp.shape),
        "extra_keys": sorted(meta["extras"]),
        "up_axis": meta.get("up_axis"),
    }


def _layout_description(fmt):
    name = fmt.rsplit("_", 1)[0]
    return next((layout.description for layout in LAYOUTS if layout.name == name), "")


def _plain(tid):
    """numpy scalar track ids (np.int64 keys) as Python values, for meta and JSON."""
    return tid.item() if isinstance(tid, np.generic) else tid


def _select_track(tracks, track, src):
    """Resolve the user's track choice against [(id, frames)]."""
    if not tracks:
        if track is not None:
            raise BadInputError(src, f"holds a single motion; there is no track {track!r} to choose")
        return None
    if track is None:
        return max(tracks, key=lambda t: t[1])[0]  # max keeps the first of equals
    for tid, _ in tracks:
        if tid == track or str(tid) == str(track):
            return tid
    available = ", ".join(f"{tid} ({n} frames)" for tid, n in tracks)
    raise BadInputError(src, f"no track {track!r}; available tracks: {available}")


def _guarded(fmt, src, fn, *args):
    """Run a layout function; content it cannot make sense of is BadInputError."""
    try:
        return fn(*args)
    except BadInputError:
        raise
    except KeyError as exc:
        raise BadInputError(src, f"malformed {fmt} file: missing key {exc}") from None
    except (ValueError, TypeError, IndexError, AttributeError, ArithmeticError) as exc:
        raise BadInputError(src, f"malformed {fmt} file ({type(exc).__name__}: {exc})") from None
