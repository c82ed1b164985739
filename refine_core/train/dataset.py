"""Training clips: where the mocap lives, the split by performer, the cache.

Two sources, both retargeted to SMPL-24 (retarget.py) and floor-levelled:
- "cmu": the iClone CC_Base conversion of CMU subjects 001-007
  (../shared/data/cmu_bvh/<subject>/*.bvh, 60 fps); ``load_cmu`` as before;
- "more": ../shared/data/more_bvh (four rigs, gzip BVH, mixed frame rates,
  listed in its MANIFEST.tsv with the performer of every file).

Splits are by performer (never one performer on two sides; docs/data.md has
the tables and frame counts). Test performers are for the final results
table only, never for choosing a recipe.

Conventions of the Motions made here: SMPL frame, Y up, body faces +Z in its
rest pose, metres; fps as asked; rotations continuous in time.
"""
import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import BadInputError
from ..motion import Motion
from ..skeleton import JOINT_NAMES
from .augment import resample, rotate
from .bvh import read_bvh
from .retarget import RIGS, TPose, detect_rig, missing_bones, reference_tpose, retarget, retarget_rig, tpose_of

DATA_ENV = "MOTION_REFINE_DATA"
MORE_ENV = "MOTION_REFINE_MORE_DATA"
CACHE_ENV = "MOTION_REFINE_CACHE"
REPO_ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")
SOURCES = ("cmu", "more")

# CMU set (cmu_bvh): split by subject folder; folders in neither list (a
# user's own data) go to training. Validation: 007 (plain walks, the
# contact-rich everyday case) and 001 (playground climbing and jumping:
# non-periodic, airborne phases, large root motion), about a quarter of the
# frames. Training keeps the most varied subjects: 002 (walk, run, jump,
# punch, swordplay, washing), 003 (uneven terrain) and 005 (dance).
VAL_SUBJECTS = ("001", "007")
TRAIN_SUBJECTS = ("002", "003", "005")

# more_bvh: performers (MANIFEST.tsv "subject") held out; all others train.
# Validation adds a walk (cgspeed) and a jump-twist (daz) so recipes are
# chosen on more than one rig. Test covers every rig and motion kind: ACCAD
# Male1 (walks, runs, crawling, lying, everyday), cgspeed 008 (walk styles),
# 009 (runs), 014 (jump and reach), 141 (wave); CMU 135 in both conversions
# (karate: cgspeed and daz, the same performer); daz 094 (Indian dance), 143
# (run figure 8); the fair actor (dab, jumping, wave, zombie walk).
MORE_VAL = ("CMU 016", "CMU 085")
MORE_TEST = ("ACCAD Male1", "CMU 008", "CMU 009", "CMU 014", "CMU 141", "CMU 135", "CMU 094", "CMU 143",
             "FAIR actor 1 (Meta)")
# Frame rates the header gets wrong: the salsa clips were captured at 60 fps
# although "Frame Time" says 1/120 (the source repository's readme).
FPS_OVERRIDE = {"CMU 060": 60.0, "CMU 061": 60.0}
# Files left out, with the reason: three ACCAD Male2 takes were exported from
# another skeleton (no ToSpine joint, 21 joints), so the performer's standing
# clip cannot serve as their rest reference.
SKIPPED = {
    "accad_Male2_B24_WalkToCrouch.bvh.gz": "21-joint ACCAD skeleton (no ToSpine): no rest reference",
    "accad_Male2_C19_RunToJumpToWalk.bvh.gz": "21-joint ACCAD skeleton (no ToSpine): no rest reference",
    "accad_Male2_C20_RunToPickupBox.bvh.gz": "21-joint ACCAD skeleton (no ToSpine): no rest reference",
}


def data_root() -> Path:
    """The CMU BVH folder: $MOTION_REFINE_DATA, else ../shared/data/cmu_bvh beside the repo."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "cmu_bvh"


def more_root() -> Path:
    """The more_bvh folder: $MOTION_REFINE_MORE_DATA, else ../shared/data/more_bvh beside the repo."""
    env = os.environ.get(MORE_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "more_bvh"


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else REPO_ROOT / "runs" / "cache"


# ------------------------------------------------------------------- CMU


def cmu_files(root=None, split="all"):
    """Sorted BVH paths ``root/<subject>/*.bvh`` of a split ("train", "val", "all")."""
    root = Path(root) if root else data_root()
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
    files = sorted(root.glob("*/*.bvh"))
    # Subject folders not named in either list (a user's own data) train.
    keep = {"train": lambda s: s not in VAL_SUBJECTS, "val": lambda s: s in VAL_SUBJECTS}.get(split, lambda s: True)
    return [f for f in files if keep(f.parent.name)]


def load_bvh(path, fps=None, tpose: TPose = None) -> Motion:
    """One CC_Base BVH file as a Motion, resampled to ``fps`` (None: the file's).

    A clip without its own T-pose frame uses ``tpose``, else the reference
    found under the data root it sits in (``<root>/<subject>/<clip>.bvh``).
    Raises BadInputError for a file that is not a CC_Base skeleton.
    """
    bvh = read_bvh(path)
    missing = missing_bones(bvh)
    if missing:
        more = " ..." if len(missing) > 3 else ""
        raise BadInputError(path, f"not an iClone CC_Base skeleton: no {', '.join(missing[:3])}{more}")
    if tpose is None and tpose_of(bvh) is None:
        tpose = reference_tpose(Path(path).parent.parent)  # the data root: <root>/<subject>/<clip>.bvh
    motion = retarget(bvh, tpose, source=path)
    return motion if fps is None else resample(motion, fps)


def load_cmu(root=None, fps=30, split="train", cache=True) -> list:
    """The CMU clips of ``split`` as SMPL-24 Motions at ``fps`` (list, sorted by file).

    Cached as one npz per (split, fps, files) under runs/cache/ (or
    $MOTION_REFINE_CACHE); the key hashes the retargeting code and each
    file's size and mtime, so edited data or retargeting code is re-read.
    """
    root = Path(root) if root else data_root()
    files = cmu_files(root, split)
    if not files:
        raise BadInputError(root, f"no BVH clips <subject>/*.bvh for the {split!r} split")
    meta = [{"source": str(f), "format": "cmu_bvh", "up_axis": "Y"} for f in files]
    return _cached(f"cmu_{split}_{fps:g}fps", files, meta, lambda: [load_bvh(f, fps) for f in files], fps, cache)


# -------------------------------------------------------------- more_bvh


@dataclass(frozen=True)
class Clip:
    """One more_bvh file: its path, rig, performer and split."""

    path: Path
    rig: str
    performer: str
    split: str

    @property
    def fps_override(self):
        return FPS_OVERRIDE.get(self.performer)


def performer_split(performer: str) -> str:
    """"train", "val" or "test" of a performer ("CMU 007", "ACCAD Male1", ...)."""
    if performer in MORE_TEST:
        return "test"
    if performer in MORE_VAL or performer in tuple(f"CMU {s}" for s in VAL_SUBJECTS):
        return "val"
    return "train"


def more_clips(root=None, split="all") -> list:
    """The more_bvh files of ``split`` ("train", "val", "test", "all") from its MANIFEST.tsv (less SKIPPED)."""
    root = Path(root) if root else more_root()
    if split not in SPLITS + ("all",):
        raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        raise BadInputError(root, "no MANIFEST.tsv (file, rig, performer of every clip)")
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    clips = []
    for row in rows:
        if row["rig"] not in RIGS:
            raise BadInputError(manifest, f"unknown rig {row['rig']!r} for {row['file_name']}")
        clip = Clip(root / row["file_name"], row["rig"], row["subject"], performer_split(row["subject"]))
        if clip.path.name not in SKIPPED and split in ("all", clip.split):
            clips.append(clip)
    return sorted(clips, key=lambda c: str(c.path))


def load_more_bvh(clip: Clip, fps=None) -> Motion:
    """One more_bvh clip as a Motion at ``fps`` (None: the clip's own rate)."""
    bvh = read_bvh(clip.path)
    rig = RIGS[clip.rig]
    if detect_rig(bvh, clip.path) is not rig:
        raise BadInputError(clip.path, f"its joints are not those of the {clip.rig} rig the manifest names")
    motion = retarget_rig(bvh, rig, clip.path, fps=clip.fps_override)
    motion.meta.update(performer=clip.performer, split=clip.split)
    return motion if fps is None else resample(motion, fps)


def _clip_meta(clip: Clip) -> dict:
    return {"source": str(clip.path), "format": "bvh", "rig": clip.rig, "performer": clip.performer,
            "split": clip.split, "up_axis": "Y"}


def load_clips(split="train", sources=SOURCES, fps=30, cache=True, rigs=None) -> list:
    """Every clip of ``split`` ("train", "val", "test") from ``sources``
    ("cmu", "more") as SMPL-24 Motions at ``fps``; ``rigs`` keeps only those
    rigs ("cc_base" is the CMU set). Each Motion's meta names its rig and
    performer. A source whose folder is missing raises BadInputError."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; choose from {SOURCES}")
    motions = []
    if "cmu" in sources and split != "test" and (rigs is None or "cc_base" in rigs):
        for m in load_cmu(fps=fps, split=split, cache=cache):
            m.meta.update(rig="cc_base", performer=f"CMU {Path(m.meta['source']).parent.name}", split=split)
            motions.append(m)
    if "more" in sources:
        clips = [c for c in more_clips(split=split) if rigs is None or c.rig in rigs]
        if clips:
            files = [c.path for c in clips]
            motions += _cached(f"more_{split}_{fps:g}fps", files, [_clip_meta(c) for c in clips],
                               lambda: [load_more_bvh(c, fps) for c in clips], fps, cache,
                               extra=(tuple(rigs) if rigs else None))
    return motions


# ----------------------------------------------------------------- cache


def _cached(name: str, files, meta, build, fps, cache: bool, extra=None) -> list:
    """The Motions ``build()`` makes for ``files``, through one npz under cache_dir().

    The key hashes the retargeting code and each file's size and mtime;
    older caches of the same name are removed when a new one is written.
    """
    stamp = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]
    key_parts = (_code_version(), float(fps), stamp) if extra is None else (_code_version(), float(fps), stamp, extra)
    key = hashlib.sha1(repr(key_parts).encode()).hexdigest()[:12]
    path = cache_dir() / f"{name}_{key}.npz"
    if cache and path.exists():
        return _read_cache(path, meta)
    motions = build()
    if cache:
        for stale in path.parent.glob(f"{name}_*.npz"):
            stale.unlink(missing_ok=True)  # older code or data: never read again
        _write_cache(path, motions)
    return motions


def _code_version() -> str:
    here = Path(__file__).parent
    files = ("bvh.py", "retarget.py", "floor.py", "dataset.py", "augment.py", "../motion.py")
    return hashlib.sha1(b"".join((here / f).read_bytes() for f in files)).hexdigest()


def _write_cache(path: Path, motions):
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, m in enumerate(motions):
        arrays[f"rot{i}"], arrays[f"trans{i}"], arrays[f"fps{i}"] = m.rotations, m.trans, m.fps
    with atomic_write(path) as f:  # a parallel reader never sees half a file
        np.savez(f, count=len(motions), **arrays)


def _read_cache(path: Path, meta):
    with np.load(path) as z:
        return [Motion(z[f"rot{i}"], z[f"trans{i}"], float(z[f"fps{i}"]), meta=dict(m)) for i, m in enumerate(meta)]


# ----------------------------------------------------------------- AMASS


def load_amass_folder(path, fps=30, up="auto") -> list:
    """Every AMASS-style ``.npz`` under ``path`` (recursive) as a Motion at ``fps``.

    Read by ``refine_core.formats.read_motion`` (SMPL, SMPL-H and SMPL-X
    widths; SMPL's hand joints become identity). Files without poses (e.g.
    AMASS's shape.npz) are skipped. Resampling: slerp for rotations, linear
    for translation (augment.resample). up: "y" (as our Motions), "z" (the
    AMASS data set itself is Z up: turned to Y up, -90 degrees about X), or
    "auto": "z" when the pelvis-to-head direction, averaged over the clip,
    points along Z more than along Y.
    """
    from ..formats import read_motion

    motions = []
    for f in sorted(Path(path).rglob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            if "poses" not in z.files and "pose_body" not in z.files:
                continue
        m = read_motion(f)
        if up == "z" or (up == "auto" and _is_z_up(m)):
            m = rotate(m, Z_UP_TO_Y_UP)
            m.meta = {**m.meta, "up_axis": "Y", "converted_from_up_axis": "Z"}
        motions.append(resample(m, fps))
    return motions


Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # (x, y, z) -> (x, z, -y)


def _is_z_up(motion: Motion) -> bool:
    joints = motion.joints()
    up = (joints[:, JOINT_NAMES.index("head")] - joints[:, 0]).mean(0)
    return bool(abs(up[2]) > abs(up[1]))
