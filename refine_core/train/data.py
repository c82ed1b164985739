"""Training data: CMU mocap (iClone ``CC_Base`` BVH) retargeted to SMPL-24, and AMASS folders.

Conventions of the Motions made here (docs/data.md says why):
- SMPL frame: Y up, body faces +Z in its rest pose, metres; fps as asked.
- Floor: y = 0 is the level of the lowest foot joint (ankle or SMPL ``foot``,
  the toe base) while it stands on the ground, estimated per clip from the
  frames where that joint is slow. A SMPL mesh would put its soles a few cm
  below y = 0; joint-based metrics and contact labels do not care.
- Rotations are made continuous in time (``continuous_signs``).

BVH reading is a small parser of our own (``read_bvh``): the format is a
bracketed hierarchy plus a table of numbers, and the PyPI readers either are
unmaintained pure-Python loops (``bvh`` 0.3, 2017) or pull in GL maths and
graphics stacks for per-frame Python objects (``bvhio``: PyGLM,
spatial-transform; ``bvhTools``: raylib), all far slower than one numpy read
plus scipy's vectorised Euler conversion.
"""
import argparse
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..atomic import atomic_write
from ..motion import Motion
from ..rotations import continuous_signs, matrix_to_quat
from ..errors import BadInputError
from ..kinematics import fk_positions
from ..skeleton import JOINT_NAMES, PARENTS, Skeleton
from .augment import resample, rotate

DATA_ENV = "MOTION_REFINE_DATA"
CACHE_ENV = "MOTION_REFINE_CACHE"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Split by subject (the data's README: never one subject on both sides);
# subject folders in neither list (a user's own data) go to training.
# Validation: 007 (plain walks, the contact-rich everyday case) and 001
# (playground climbing and jumping: non-periodic, airborne phases, large root
# motion), about a quarter of the frames. Training keeps the most varied
# subjects: 002 (walk, run, jump, punch, swordplay, washing), 003 (uneven
# terrain) and 005 (dance with pirouettes and jumps).
VAL_SUBJECTS = ("001", "007")
TRAIN_SUBJECTS = ("002", "003", "005")

# SMPL joint <- CC_Base bone whose change of global rotation since the T-pose
# drives it, and whose T-pose position the SMPL joint corresponds to. The neck
# takes NeckTwist02, not NeckTwist01: the neck bends in both, and with 01 the
# SMPL neck-to-head direction missed the source's by 13-19 degrees on average
# (0 with 02; spine3-to-neck then misses by 1-3 degrees).
BONE_MAP = {
    "pelvis": "CC_Base_Hip",
    "left_hip": "CC_Base_L_Thigh", "right_hip": "CC_Base_R_Thigh",
    "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01", "spine3": "CC_Base_Spine02",
    "left_knee": "CC_Base_L_Calf", "right_knee": "CC_Base_R_Calf",
    "left_ankle": "CC_Base_L_Foot", "right_ankle": "CC_Base_R_Foot",
    "left_foot": "CC_Base_L_ToeBase", "right_foot": "CC_Base_R_ToeBase",
    "neck": "CC_Base_NeckTwist02", "head": "CC_Base_Head",
    "left_collar": "CC_Base_L_Clavicle", "right_collar": "CC_Base_R_Clavicle",
    "left_shoulder": "CC_Base_L_Upperarm", "right_shoulder": "CC_Base_R_Upperarm",
    "left_elbow": "CC_Base_L_Forearm", "right_elbow": "CC_Base_R_Forearm",
    "left_wrist": "CC_Base_L_Hand", "right_wrist": "CC_Base_R_Hand",
    "left_hand": "CC_Base_L_Mid1", "right_hand": "CC_Base_R_Mid1",
}
# The child whose bone direction each SMPL joint's rest correction aligns
# (joints with several children: the one along the body's main chain).
DIRECTION_CHILD = {
    "left_hip": "left_knee", "right_hip": "right_knee",
    "left_knee": "left_ankle", "right_knee": "right_ankle",
    "left_ankle": "left_foot", "right_ankle": "right_foot",
    "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
    "left_collar": "left_shoulder", "right_collar": "right_shoulder",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow",
    "left_elbow": "left_wrist", "right_elbow": "right_wrist",
    "left_wrist": "left_hand", "right_wrist": "right_hand",
}
LEG_CHAINS = (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"))
FOOT_JOINTS = tuple(JOINT_NAMES.index(n) for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"))
CM = 0.01  # iClone BVH units are centimetres
CONTACT_SPEED = 0.25  # m/s: a foot joint slower than this may be standing
FLOOR_PERCENTILE = 10  # of the contact heights: on terrain, the lowest ground stood on
MAX_TILT_DEG = 3.0  # a steeper fitted ground is terrain, not a calibration tilt


# --------------------------------------------------------------------- BVH


@dataclass
class Bvh:
    """One BVH file. names (J,) joints (End Sites dropped); parents (J,) index,
    -1 for the root; offsets (J, 3) in the file's units, parent frame;
    channels: per joint the channel names and their first column in
    ``frames`` (F, C); frame_time in seconds."""

    names: list
    parents: np.ndarray
    offsets: np.ndarray
    channels: list
    frames: np.ndarray
    frame_time: float


def read_bvh(path, max_frames=None) -> Bvh:
    """Parse a BVH file; ``max_frames`` reads only the first rows (a T-pose check)."""
    head, _, motion = _bvh_text(path, max_frames).partition("MOTION")
    names, parents, offsets, channels = [], [], [], []
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
            if not site:
                offsets.append([float(v) for v in toks[i + 1:i + 4]])
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
    return Bvh(names, np.array(parents), np.array(offsets), channels, frames, frame_time)


def _bvh_text(path, max_frames=None) -> str:
    """The file's text; with ``max_frames`` only up to that many motion rows."""
    if max_frames is None:
        return Path(path).read_text()
    out, rows = [], None
    with open(path) as f:
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


# ------------------------------------------------------------ retargeting


@dataclass
class TPose:
    """The CC_Base rest reference: world rotations (24, 3, 3) and positions
    (24, 3) (metres) of the bones in BONE_MAP, SMPL joint order."""

    rot: np.ndarray
    pos: np.ndarray


def _mapped(bvh: Bvh):
    """World rotations (F, 24, 3, 3) and positions (F, 24, 3) (metres) of the
    BONE_MAP bones, SMPL joint order."""
    rot, pos = bvh_globals(bvh, [BONE_MAP[n] for n in JOINT_NAMES])
    return rot, pos * CM


def is_tpose(pos) -> bool:
    """pos (24, 3) mapped joint positions: arms straight out, legs straight down."""
    j = {n: pos[i] for i, n in enumerate(JOINT_NAMES)}
    arms = all(abs(j[f"{s}_wrist"][1] - j[f"{s}_shoulder"][1]) < 0.05 and
               abs(j[f"{s}_wrist"][0] - j[f"{s}_shoulder"][0]) > 0.4 for s in ("left", "right"))
    legs = all(np.linalg.norm((j[f"{s}_ankle"] - j[f"{s}_hip"])[[0, 2]]) < 0.05 for s in ("left", "right"))
    return bool(arms and legs)


def tpose_of(bvh: Bvh):
    """The file's own T-pose (its frame 0), or None when frame 0 is not one."""
    rot, pos = _mapped(Bvh(bvh.names, bvh.parents, bvh.offsets, bvh.channels, bvh.frames[:1], bvh.frame_time))
    return TPose(rot[0], pos[0]) if is_tpose(pos[0]) else None


@lru_cache(maxsize=4)
def reference_tpose(root=None) -> TPose:
    """The CC_Base T-pose from the first clip under ``root`` whose frame 0 is one.

    Only some conversions prepend the T-pose (in this data set subject 007's
    walks 03-12); all clips share one skeleton (same offsets), so one
    reference serves every clip.
    """
    root = Path(root) if root else data_root()
    for path in sorted(root.rglob("*.bvh")):
        bvh = read_bvh(path, max_frames=1)
        tp = tpose_of(bvh) if not _missing_bones(bvh) else None
        if tp is not None:
            return tp
    raise BadInputError(root, "no CC_Base BVH file here starts with a T-pose to use as the rest reference")


def _missing_bones(bvh: Bvh):
    return sorted(set(BONE_MAP.values()) - set(bvh.names))


def _rest_corrections(tpose_pos, smpl_rest):
    """(24, 3, 3) constant rotations Q_j taking each SMPL rest bone direction
    onto the CC T-pose bone direction, so SMPL bones point where the source's
    do; identity for the pelvis and the leaf joints (head, feet, hands)."""
    q = np.tile(np.eye(3), (24, 1, 1))
    for name, child in DIRECTION_CHILD.items():
        j, c = JOINT_NAMES.index(name), JOINT_NAMES.index(child)
        a = smpl_rest[c] - smpl_rest[j]
        b = tpose_pos[c] - tpose_pos[j]
        q[j] = Rotation.align_vectors(b[None], a[None])[0].as_matrix()
    return q


def _leg_length(pos, chains=LEG_CHAINS):
    """Mean hip-knee-ankle length (metres) of pos (24, 3)."""
    ix = [[JOINT_NAMES.index(n) for n in c] for c in chains]
    return np.mean([np.linalg.norm(pos[a] - pos[b]) + np.linalg.norm(pos[b] - pos[c]) for a, b, c in ix])


def retarget(bvh: Bvh, tpose: TPose = None, skeleton: Skeleton = None, source=None) -> Motion:
    """A CC_Base BVH clip as an SMPL-24 Motion at the file's frame rate.

    Rotations: each SMPL joint takes its bone's change of world rotation since
    the T-pose, D(t) = R(t) R(tpose)^-1 (the CC T-pose already faces +Z with
    Y up and arms along +-X, as SMPL's rest pose does), times a constant rest
    correction: G_j(t) = D_j(t) Q_j; locals are G_parent^-1 G_j.
    Translation: the hip centre follows the source's, scaled by the ratio of
    leg lengths (SMPL / CC) so strides match the legs; then the floor is put
    at y = 0 (module docstring). The T-pose frame 0, when present, is dropped.
    ``tpose``: the rest reference when frame 0 is not a T-pose; ``skeleton``:
    the SMPL body to fit (default: the neutral one).
    """
    rot, pos = _mapped(bvh)
    own = tpose_of(bvh)
    if own is not None:
        rot, pos = rot[1:], pos[1:]
        tpose = own
    if tpose is None:
        raise ValueError(f"{source}: frame 0 is not a T-pose and no reference T-pose was given")
    skeleton = skeleton or Skeleton()
    rest = skeleton.rest_joints
    glob = rot @ np.swapaxes(tpose.rot, -1, -2) @ _rest_corrections(tpose.pos, rest)
    local = np.swapaxes(glob[:, PARENTS[1:]], -1, -2) @ glob[:, 1:]
    local = np.concatenate([glob[:, :1], local], axis=1)
    quats = continuous_signs(matrix_to_quat(local))

    scale = _leg_length(rest) / _leg_length(tpose.pos)
    hips = [JOINT_NAMES.index("left_hip"), JOINT_NAMES.index("right_hip")]
    hip_centre_smpl = fk_positions(quats, np.zeros((len(quats), 3)), rest)[:, hips].mean(1)
    trans = scale * pos[:, hips].mean(1) - hip_centre_smpl
    fps = round(1.0 / bvh.frame_time, 2)
    motion = Motion(quats, trans, fps, skeleton=skeleton,
                    meta={"source": str(source) if source else None, "format": "cmu_bvh", "up_axis": "Y"})
    return level_floor(motion)


def level_floor(motion: Motion, max_tilt_deg=MAX_TILT_DEG) -> Motion:
    """Put the ground the feet stand on at y = 0 and make it level.

    The ground is a plane fitted to the lowest foot joint over contact frames
    (slower than CONTACT_SPEED). A tilt up to ``max_tilt_deg`` is a capture
    calibration error (subject 007's walks all climb 1 degree along z: 3-4 cm
    over a clip) and the whole motion is turned to level it; a steeper plane
    is real terrain (climbing, uneven ground) and only its height is used.
    Slopes are fitted only along horizontal directions the contacts spread
    over (std > 0.3 m); a clip with fewer than 10 contact frames keeps its
    tilt and uses the 5th percentile of the lowest foot joint's height.
    The ground height is the FLOOR_PERCENTILE-th percentile of the contact
    heights: on flat ground it is within a few mm of their median, and on
    terrain (climbing frames, uneven ground) it is the lowest level stood on.
    """
    low, speed, point = lower_foot(motion)
    contact = speed < CONTACT_SPEED
    if contact.sum() < 10:
        return _shift_y(motion, -np.percentile(low, 5))
    p = point[contact]
    centre = p.mean(0)
    xz = p[:, [0, 2]] - centre[[0, 2]]
    _, sing, dirs = np.linalg.svd(xz, full_matrices=False)
    spread = sing / np.sqrt(len(xz))
    grad = np.zeros(2)
    for d, s in zip(dirs, spread):
        if s > 0.3:
            along = xz @ d
            grad += d * np.sum(along * (p[:, 1] - centre[1])) / np.sum(along**2)
    normal = np.array([-grad[0], 1.0, -grad[1]])
    normal /= np.linalg.norm(normal)
    if np.degrees(np.arccos(normal[1])) <= max_tilt_deg:
        level = Rotation.align_vectors([[0.0, 1.0, 0.0]], [normal])[0].as_matrix()
        motion = rotate(motion, level)
        low, speed, _ = lower_foot(motion)
    return _shift_y(motion, -np.percentile(low[speed < CONTACT_SPEED], FLOOR_PERCENTILE))


def _shift_y(motion: Motion, dy: float) -> Motion:
    trans = motion.trans.copy()
    trans[:, 1] += dy
    return motion.replace(trans=trans)


def lower_foot(motion: Motion):
    """Per frame, the lowest foot joint (ankles, feet): its height (T,), its
    speed (T,) in m/s (central differences, one-sided at the ends) and its
    position (T, 3)."""
    feet = motion.joints()[:, FOOT_JOINTS]
    which = np.argmin(feet[..., 1], axis=1)
    t = np.arange(len(feet))
    vel = np.gradient(feet, axis=0) * motion.fps if len(feet) > 1 else np.zeros_like(feet)
    return feet[t, which, 1], np.linalg.norm(vel[t, which], axis=-1), feet[t, which]


def contact_stats(motion: Motion) -> dict:
    """Foot-floor numbers of a motion (metres, m/s): ``p5_lowest`` the 5th
    percentile over frames of the lowest foot joint's height; over contact
    frames (lowest foot joint slower than CONTACT_SPEED) ``contact_median``
    and ``contact_p90`` of its height and ``contact_fraction``; ``slide``
    the median horizontal speed of the lowest foot joint while it is within
    2 cm of the floor."""
    low, speed, point = lower_foot(motion)
    contact = speed < CONTACT_SPEED
    slide = np.linalg.norm(np.gradient(point[:, [0, 2]], axis=0) * motion.fps, axis=-1)
    on_floor = low < 0.02
    nan = float("nan")
    return {
        "p5_lowest": float(np.percentile(low, 5)),
        "contact_median": float(np.median(low[contact])) if contact.any() else nan,
        "contact_p90": float(np.percentile(low[contact], 90)) if contact.any() else nan,
        "contact_fraction": float(contact.mean()),
        "slide": float(np.median(slide[on_floor])) if on_floor.any() else nan,
    }


# ------------------------------------------------------------- CMU loading


def data_root() -> Path:
    """The CMU BVH folder: $MOTION_REFINE_DATA, else ../shared/data/cmu_bvh beside the repo."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "cmu_bvh"


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else REPO_ROOT / "runs" / "cache"


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
    missing = _missing_bones(bvh)
    if missing:
        raise BadInputError(path, f"not an iClone CC_Base skeleton: no {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
    if tpose is None and tpose_of(bvh) is None:
        tpose = reference_tpose(Path(path).parent.parent)  # the data root: <root>/<subject>/<clip>.bvh
    motion = retarget(bvh, tpose, source=path)
    return motion if fps is None else resample(motion, fps)


def load_cmu(root=None, fps=30, split="train", cache=True) -> list:
    """The CMU clips of ``split`` as SMPL-24 Motions at ``fps`` (list, sorted by file).

    Cached as one npz per (split, fps, files) under runs/cache/ (or
    $MOTION_REFINE_CACHE); the key hashes this module's and augment.py's
    source and each file's size and mtime, so edited data or retargeting
    code is re-read.
    """
    root = Path(root) if root else data_root()
    files = cmu_files(root, split)
    if not files:
        raise BadInputError(root, f"no BVH clips <subject>/*.bvh for the {split!r} split")
    stamp = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]
    key = hashlib.sha1(repr((_code_version(), float(fps), stamp)).encode()).hexdigest()[:12]
    path = cache_dir() / f"cmu_{split}_{fps:g}fps_{key}.npz"
    if cache and path.exists():
        return _read_cache(path, files)
    motions = [load_bvh(f, fps) for f in files]
    if cache:
        for stale in path.parent.glob(f"cmu_{split}_{fps:g}fps_*.npz"):
            stale.unlink(missing_ok=True)  # older code or data: never read again
        _write_cache(path, motions)
    return motions


def _code_version() -> str:
    here = Path(__file__).parent
    return hashlib.sha1(b"".join((here / f).read_bytes() for f in ("data.py", "augment.py"))).hexdigest()


def _write_cache(path: Path, motions):
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, m in enumerate(motions):
        arrays[f"rot{i}"], arrays[f"trans{i}"], arrays[f"fps{i}"] = m.rotations, m.trans, m.fps
    with atomic_write(path) as f:  # a parallel reader never sees half a file
        np.savez(f, count=len(motions), **arrays)


def _read_cache(path: Path, files):
    with np.load(path) as z:
        return [Motion(z[f"rot{i}"], z[f"trans{i}"], float(z[f"fps{i}"]),
                       meta={"source": str(f), "format": "cmu_bvh", "up_axis": "Y"})
                for i, f in enumerate(files)]


# ----------------------------------------------------------------- AMASS


def load_amass_folder(path, fps=30, up="auto") -> list:
    """Every AMASS-style ``.npz`` under ``path`` (recursive) as a Motion at ``fps``.

    Keys: ``poses`` (T, 72) or SMPL-H/X (T, 156/165: the first 22 joints are
    the body, SMPL's hand joints become identity), ``trans`` (T, 3),
    ``betas``, ``mocap_framerate`` (or ``mocap_frame_rate`` / ``fps``).
    Files without poses (e.g. AMASS's shape.npz) are skipped. Resampling:
    slerp for rotations, linear for translation (augment.resample).
    up: "y" (as our Motions), "z" (the AMASS data set itself is Z up: turned
    to Y up, -90 degrees about X), or "auto": "z" when the pelvis-to-head
    direction, averaged over the clip, points along Z more than along Y.
    Uses ``refine_core.formats.read_motion`` when that module provides it,
    else reads the keys directly.
    """
    reader = _format_reader()
    motions = []
    for f in sorted(Path(path).rglob("*.npz")):
        m = reader(f)
        if m is None:
            continue
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


def _format_reader():
    try:
        from ..formats import read_motion
    except ImportError:
        return _read_amass_npz

    def read(f):
        with np.load(f, allow_pickle=False) as z:
            if "poses" not in z.files and "pose_body" not in z.files:
                return None
        return read_motion(f)
    return read


def _read_amass_npz(f):
    with np.load(f, allow_pickle=False) as z:
        if "poses" not in z.files:
            return None
        poses = np.asarray(z["poses"], dtype=np.float64)
        poses = poses.reshape(len(poses), -1, 3)
        body = np.zeros((len(poses), 24, 3))
        body[:, :22] = poses[:, :22]
        if poses.shape[1] == 24:
            body[:, 22:] = poses[:, 22:]
        fps = next(float(z[k]) for k in ("mocap_framerate", "mocap_frame_rate", "fps") if k in z.files)
        betas = np.asarray(z["betas"], dtype=np.float64)[:10] if "betas" in z.files else None
        return Motion.from_axis_angle(body, z["trans"], fps, betas=betas,
                                      meta={"source": str(f), "format": "amass_npz", "up_axis": "Y"})


# ----------------------------------------------------------------- renders

RENDER_CLIPS = ("007/007_03.bvh", "002/002_01.bvh", "005/005_04.bvh", "001/001_01.bvh")


def render(motion: Motion, path, frames=6, title=None):
    """Stick figures of ``frames`` evenly spaced frames: side view (Z right,
    Y up) above, front view (X right, Y up) below; left limbs blue, right red,
    floor y = 0 grey. Writes a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = motion.joints()
    idx = np.linspace(0, len(joints) - 1, frames).round().astype(int)
    fig, axes = plt.subplots(2, frames, figsize=(2.2 * frames, 5.6), squeeze=False)
    for col, t in enumerate(idx):
        for row, (h, label) in enumerate(((2, "side: z"), (0, "front: x"))):
            ax = axes[row, col]
            p = joints[t]
            centre = p[0, h]
            for j in range(1, 24):
                q = PARENTS[j]
                side = JOINT_NAMES[j][:4]
                color = {"left": "tab:blue", "righ": "tab:red"}.get(side, "k")
                ax.plot([p[q, h] - centre, p[j, h] - centre], [p[q, 1], p[j, 1]], color=color, lw=2)
            ax.scatter(p[:, h] - centre, p[:, 1], s=6, color="k", zorder=3)
            ax.axhline(0.0, color="0.5", lw=1)
            ax.set_xlim(-1.0, 1.0)
            ax.set_ylim(-0.15, 2.0 + max(0.0, joints[:, :, 1].max() - 1.9))
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
            ax.set_title(f"frame {t} ({label} m)", fontsize=7)
    fig.suptitle(title or str(motion.meta.get("source", "")), fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render_docs(out_dir, root=None, clips=RENDER_CLIPS, fps=30):
    """The stick-figure PNGs of docs/data.md, one per clip of ``clips``."""
    root = Path(root) if root else data_root()
    paths = []
    for rel in clips:
        motion = load_bvh(root / rel, fps)
        low = lower_foot(motion)[0]
        path = Path(out_dir) / f"retarget_{Path(rel).stem}.png"
        render(motion, path, title=f"{rel} retargeted to SMPL-24, {fps:g} fps; lowest foot joint p5 {100 * np.percentile(low, 5):.1f} cm")
        paths.append(path)
    return paths


def _print_feet(motions):
    by_subject = {}
    for m in motions:
        by_subject.setdefault(Path(m.meta["source"]).parent.name, []).append(contact_stats(m))
    print("| subject | clips | p5 lowest foot joint (cm) | contact median (cm) | contact p90 (cm) | contact frames | slide (cm/s) |")
    print("|---|---|---|---|---|---|---|")
    for subject, stats in sorted(by_subject.items()):
        col = {k: np.array([s[k] for s in stats]) for k in stats[0]}
        rng = lambda k, f=100: f"{f * np.nanmin(col[k]):.1f} to {f * np.nanmax(col[k]):.1f}"  # noqa: E731
        print(f"| {subject} | {len(stats)} | {rng('p5_lowest')} | {rng('contact_median')} | {rng('contact_p90')} | "
              f"{rng('contact_fraction', 100)}% | {rng('slide')} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", metavar="DIR", help="write stick-figure PNGs of a few clips to DIR")
    parser.add_argument("--root", help=f"CMU BVH folder (default ${DATA_ENV} or ../shared/data/cmu_bvh)")
    parser.add_argument("--build-cache", action="store_true", help="retarget every split at 30 and 60 fps into the cache")
    parser.add_argument("--feet", metavar="SPLIT", help="print foot-contact numbers per subject of a split (train, val, all) at 30 fps")
    args = parser.parse_args(argv)
    if args.feet:
        _print_feet(load_cmu(args.root, 30, args.feet))
    if args.render:
        for p in render_docs(args.render, args.root):
            print(p)
    if args.build_cache:
        for split in ("train", "val"):
            for fps in (30, 60):
                ms = load_cmu(args.root, fps, split)
                print(f"{split} {fps} fps: {len(ms)} clips, {sum(m.num_frames for m in ms)} frames")


if __name__ == "__main__":
    main()
