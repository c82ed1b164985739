"""BVH reading: a small parser of our own and world transforms of its joints.

The format is a bracketed hierarchy plus a table of numbers, and the PyPI
readers either are unmaintained pure-Python loops (``bvh`` 0.3, 2017) or pull
in GL maths and graphics stacks for per-frame Python objects (``bvhio``:
PyGLM, spatial-transform; ``bvhTools``: raylib), all far slower than one numpy
read plus scipy's vectorised Euler conversion. ``*.bvh.gz`` files are read
through gzip.
"""
import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation


@dataclass
class Bvh:
    """One BVH file. names (J,) joints (End Sites dropped); parents (J,) index,
    -1 for the root; offsets (J, 3) in the file's units, parent frame;
    channels: per joint the channel names and their first column in
    ``frames`` (F, C); frame_time in seconds; end_sites: joint index -> the
    offset (3,) of its End Site (the tip of a leaf bone), parent frame."""

    names: list
    parents: np.ndarray
    offsets: np.ndarray
    channels: list
    frames: np.ndarray
    frame_time: float
    end_sites: dict = field(default_factory=dict)

    def head(self, frames: int = 1) -> "Bvh":
        """The same skeleton with only its first ``frames`` rows of motion."""
        return Bvh(self.names, self.parents, self.offsets, self.channels, self.frames[:frames], self.frame_time, self.end_sites)

    def with_frames(self, frames: np.ndarray) -> "Bvh":
        """The same skeleton with other motion rows (F, C)."""
        return Bvh(self.names, self.parents, self.offsets, self.channels, np.asarray(frames, dtype=np.float64),
                   self.frame_time, self.end_sites)


def read_bvh(path, max_frames=None) -> Bvh:
    """Parse a BVH file (or ``.bvh.gz``); ``max_frames`` reads only the first rows (a T-pose check)."""
    head, _, motion = _bvh_text(path, max_frames).partition("MOTION")
    names, parents, offsets, channels, end_sites = [], [], [], [], {}
    stack, pending, col, site = [], None, 0, False
    toks = head.split()
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok in ("ROOT", "JOINT"):
            names.append(toks[i + 1])
            parents.append(stack[-1] if stack else -1)
            channels.append(((), col))
            pending, site, i = len(names) - 1, False, i + 2
        elif tok == "End":  # End Site: an offset with no channels, not a joint
            pending, site, i = None, True, i + 2
        elif tok == "{":
            stack.append(pending if pending is not None else stack[-1])
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            values = [float(v) for v in toks[i + 1:i + 4]]
            if site:
                end_sites[stack[-1]] = np.array(values)
            else:
                offsets.append(values)
            site, i = False, i + 4
        elif tok == "CHANNELS":
            n = int(toks[i + 1])
            channels[-1] = (tuple(toks[i + 2:i + 2 + n]), col)
            col, i = col + n, i + 2 + n
        else:
            i += 1
    lines = motion.strip().split("\n", 2)
    frame_time = float(lines[1].split(":")[1])
    frames = np.fromstring(lines[2] if len(lines) > 2 else "", sep=" ").reshape(-1, col)
    return Bvh(names, np.array(parents), np.array(offsets), channels, frames, frame_time, end_sites)


def _open(path):
    path = Path(path)
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def _bvh_text(path, max_frames=None) -> str:
    """The file's text; with ``max_frames`` only up to that many motion rows."""
    with _open(path) as f:
        if max_frames is None:
            return f.read()
        out, rows = [], None
        for line in f:
            out.append(line)
            if rows is None and line.strip() == "MOTION":
                rows = -2  # the Frames and Frame Time lines come first
            elif rows is not None:
                rows += 1
                if rows >= max_frames:
                    break
    return "".join(out)


def bvh_globals(bvh: Bvh, names):
    """World rotations (F, K, 3, 3) and positions (F, K, 3) of joints ``names``.

    BVH: a joint's local transform is translate(offset + position channels)
    then its rotation channels in the listed order, intrinsic (so
    "Zrotation Yrotation Xrotation" is R = Rz Ry Rx: scipy "ZYX", uppercase).
    Only the ancestors of ``names`` are evaluated.
    """
    index = {n: j for j, n in enumerate(bvh.names)}
    needed = set()
    for n in names:
        j = index[n]
        while j >= 0 and j not in needed:
            needed.add(j)
            j = bvh.parents[j]
    nf = len(bvh.frames)
    rot, pos = {}, {}
    for j in sorted(needed):  # parents come before children in a BVH
        chans, col = bvh.channels[j]
        loc = np.broadcast_to(bvh.offsets[j], (nf, 3)).copy()
        axes = ""
        rcols = []
        for k, c in enumerate(chans):
            if c.endswith("position"):
                loc[:, "XYZ".index(c[0].upper())] += bvh.frames[:, col + k]
            else:
                axes += c[0].upper()
                rcols.append(col + k)
        local = Rotation.from_euler(axes, bvh.frames[:, rcols], degrees=True).as_matrix() if axes else np.eye(3)
        p = bvh.parents[j]
        if p < 0:
            rot[j], pos[j] = np.broadcast_to(local, (nf, 3, 3)), loc
        else:
            rot[j] = rot[p] @ local
            pos[j] = pos[p] + np.einsum("fij,fj->fi", rot[p], loc)
    ids = [index[n] for n in names]
    return np.stack([rot[j] for j in ids], 1), np.stack([pos[j] for j in ids], 1)
