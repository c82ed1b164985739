"""Retargeting BVH mocap to SMPL-24, one joint map per rig.

The method (the same for every rig): each SMPL joint is driven by one source
bone. With the bone's world rotation R(t) and its world rotation R_ref in a
rest reference pose, the SMPL joint's world rotation is
G_j(t) = D_j(t) Q_j, D_j(t) = R_j(t) R_ref_j^-1, where Q_j is a constant rest
correction taking the SMPL rest bone direction onto the reference's (so SMPL
bones point where the source's do); locals are G_parent^-1 G_j. The root
translation follows the source's hip centre, scaled by the ratio of leg
lengths (so strides match the legs and the file's units cancel), and the
floor is then put at y = 0 (floor.level_floor).

The rest reference is a pose whose facing is known: the T-pose frame the CMU
conversions start with (dropped from the motion), the rig's all-zero
channels (fair: a Z-up T-pose) or a standing frame of the same performer
(ACCAD, whose zero pose is not a body pose). A reference that is not
already Y up and facing +Z is turned there first (``canonical``); the
motion keeps its own heading.
"""
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import BadInputError
from ..kinematics import fk_positions
from ..motion import Motion
from ..rotations import continuous_signs, matrix_to_quat
from ..skeleton import JOINT_NAMES, PARENTS, Skeleton
from .bvh import Bvh, bvh_globals, read_bvh
from .floor import level_floor

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
CM = 0.01  # iClone BVH units are centimetres
# Candidate file units (metres per unit), told apart by the leg length
# (hip-knee-ankle, about 0.75-0.95 m): metres, centimetres, inches, and the
# CMU ASF unit the cgspeed/daz conversions inherit (inches / 0.45).
UNITS = {"m": 1.0, "cm": 0.01, "inch": 0.0254, "cmu_asf": 0.0254 / 0.45}
LEG_METRES = 0.85
STANDARD_FPS = (24.0, 25.0, 30.0, 50.0, 60.0, 100.0, 120.0)


# ------------------------------------------------------------------ rigs


@dataclass(frozen=True)
class Rig:
    """A source skeleton: which bone drives each SMPL joint, and its rest reference.

    bones: SMPL joint -> source bone whose world rotation drives it (all 24).
    points: SMPL joint -> where the joint sits when not at its bone's own
    position: ``("end", bone)`` the tip of a leaf bone's End Site, or
    ``(bone_a, bone_b, t)`` the point a fraction t from a to b (a rig with
    fewer spine bones than SMPL, or a zero-length bone).
    rest: "tpose_frame" (frame 0 is a T-pose, dropped), "zero" (all channels
    zero is the rest pose), or "stand" (frame 0 of ``stand_clip`` of the same
    performer, a relaxed standing pose; the motion keeps all its frames).
    """

    name: str
    bones: dict
    points: dict = field(default_factory=dict)
    rest: str = "tpose_frame"
    stand_clip: str = ""  # with rest="stand": file name pattern, {performer} filled in
    unit: str = ""  # "": detected from the leg length (detect_unit); "character": no physical unit, leg scaled to LEG_METRES


def _sides(**pairs):
    """Left and right entries from ``left_x="Left{}Bone"``-style templates."""
    out = {}
    for smpl, (left, right) in pairs.items():
        out[f"left_{smpl}"], out[f"right_{smpl}"] = left, right
    return out


CC_BASE = Rig("cc_base", BONE_MAP)
RIGS = {
    "cc_base": CC_BASE,
    # CMU MotionBuilder-friendly (cgspeed): LowerBack, Spine, Spine1 for the
    # three SMPL spine joints; Neck and LeftShoulder sit on Spine1 and the
    # finger base on the hand (zero offsets), so those points move along.
    "cgspeed": Rig("cgspeed", {
        "pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck1", "head": "Head",
        **_sides(hip=("LeftUpLeg", "RightUpLeg"), knee=("LeftLeg", "RightLeg"), ankle=("LeftFoot", "RightFoot"),
                 foot=("LeftToeBase", "RightToeBase"), collar=("LeftShoulder", "RightShoulder"),
                 shoulder=("LeftArm", "RightArm"), elbow=("LeftForeArm", "RightForeArm"),
                 wrist=("LeftHand", "RightHand"), hand=("LeftFingerBase", "RightFingerBase")),
    }, points={"spine1": ("Hips", "Spine", 0.5),
               **_sides(collar=(("Spine1", "LeftArm", 0.3), ("Spine1", "RightArm", 0.3)),
                        hand=("LeftHandIndex1", "RightHandIndex1"))}),
    # CMU Daz-friendly: two spine bones (abdomen, chest), no toe bones (the
    # foot's End Site is the toe point).
    "daz": Rig("daz", {
        "pelvis": "hip", "spine1": "abdomen", "spine2": "chest", "spine3": "chest", "neck": "neck", "head": "head",
        **_sides(hip=("lThigh", "rThigh"), knee=("lShin", "rShin"), ankle=("lFoot", "rFoot"), foot=("lFoot", "rFoot"),
                 collar=("lCollar", "rCollar"), shoulder=("lShldr", "rShldr"), elbow=("lForeArm", "rForeArm"),
                 wrist=("lHand", "rHand"), hand=("lMid1", "rMid1")),
    }, points={"spine3": ("chest", "neck", 0.5), **_sides(foot=(("end", "lFoot"), ("end", "rFoot")))}),
    # ACCAD (MotionBuilder export with joint orients baked into the offsets,
    # so the zero pose is no body pose): rest = the performer's "Stand" clip.
    "accad": Rig("accad", {
        "pelvis": "Hips", "spine1": "ToSpine", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck", "head": "Head",
        **_sides(hip=("LeftUpLeg", "RightUpLeg"), knee=("LeftLeg", "RightLeg"), ankle=("LeftFoot", "RightFoot"),
                 foot=("LeftToeBase", "RightToeBase"), collar=("LeftShoulder", "RightShoulder"),
                 shoulder=("LeftArm", "RightArm"), elbow=("LeftForeArm", "RightForeArm"),
                 wrist=("LeftHand", "RightHand"), hand=("LeftHand", "RightHand")),
    }, points=_sides(hand=(("end", "LeftHand"), ("end", "RightHand"))), rest="stand",
        stand_clip="accad_{performer}_A1_Stand.bvh.gz"),
    # facebookresearch/AnimatedDrawings: Z up, zero channels are a T-pose; a
    # cartoon character's scale (leg 21.7 units), so no physical unit.
    "fair": Rig("fair", {
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine2", "spine3": "Spine3", "neck": "Neck", "head": "Head",
        **_sides(hip=("LeftUpLeg", "RightUpLeg"), knee=("LeftLeg", "RightLeg"), ankle=("LeftFoot", "RightFoot"),
                 foot=("LeftToeBase", "RightToeBase"), collar=("LeftShoulder", "RightShoulder"),
                 shoulder=("LeftArm", "RightArm"), elbow=("LeftForeArm", "RightForeArm"),
                 wrist=("LeftHand", "RightHand"), hand=("LeftHandEnd", "RightHandEnd")),
    }, rest="zero", unit="character"),
}


def detect_rig(bvh: Bvh, path=None) -> Rig:
    """The rig whose bones this file has (the first in RIGS); BadInputError if none."""
    names = set(bvh.names)
    for rig in RIGS.values():
        if set(rig.bones.values()) <= names and all(_point_bones(p) <= names for p in rig.points.values()):
            return rig
    raise BadInputError(path or "BVH", f"unknown skeleton (joints {', '.join(bvh.names[:4])} ...): no joint map for it")


def _point_bones(spec):
    if isinstance(spec, str):
        return {spec}
    return {spec[1]} if spec[0] == "end" else {spec[0], spec[1]}


# ------------------------------------------------------------ CMU CC_Base


@dataclass
class TPose:
    """A rest reference: world rotations (24, 3, 3) and positions (24, 3)
    (metres) of the driving bones, SMPL joint order."""

    rot: np.ndarray
    pos: np.ndarray


def _mapped(bvh: Bvh):
    """World rotations (F, 24, 3, 3) and positions (F, 24, 3) (metres) of the
    BONE_MAP bones, SMPL joint order."""
    rot, pos = bvh_globals(bvh, [BONE_MAP[n] for n in JOINT_NAMES])
    return rot, pos * CM


def is_tpose(pos, leg=None) -> bool:
    """pos (24, 3) mapped joint positions (metres, Y up, facing +Z): arms
    straight out, legs straight down. ``leg``: the leg length when the
    thresholds should scale with it (other rigs), else metres as CC_Base."""
    k = 1.0 if leg is None else leg / LEG_METRES
    j = {n: pos[i] for i, n in enumerate(JOINT_NAMES)}
    arms = all(abs(j[f"{s}_wrist"][1] - j[f"{s}_shoulder"][1]) < 0.05 * k and
               abs(j[f"{s}_wrist"][0] - j[f"{s}_shoulder"][0]) > 0.4 * k for s in ("left", "right"))
    legs = all(np.linalg.norm((j[f"{s}_ankle"] - j[f"{s}_hip"])[[0, 2]]) < 0.05 * k for s in ("left", "right"))
    return bool(arms and legs)


def tpose_of(bvh: Bvh):
    """The CC_Base file's own T-pose (its frame 0), or None when frame 0 is not one."""
    rot, pos = _mapped(bvh.head(1))
    return TPose(rot[0], pos[0]) if is_tpose(pos[0]) else None


@lru_cache(maxsize=4)
def reference_tpose(root) -> TPose:
    """The CC_Base T-pose from the first clip under ``root`` whose frame 0 is one.

    Only some conversions prepend the T-pose (in this data set subject 007's
    walks 03-12); all clips share one skeleton (same offsets), so one
    reference serves every clip.
    """
    root = Path(root)
    for path in sorted(root.rglob("*.bvh")):
        bvh = read_bvh(path, max_frames=1)
        tp = tpose_of(bvh) if not missing_bones(bvh) else None
        if tp is not None:
            return tp
    raise BadInputError(root, "no CC_Base BVH file here starts with a T-pose to use as the rest reference")


def missing_bones(bvh: Bvh, rig: Rig = CC_BASE):
    return sorted(set(rig.bones.values()) - set(bvh.names))


def _rest_corrections(tpose_pos, smpl_rest):
    """(24, 3, 3) constant rotations Q_j taking each SMPL rest bone direction
    onto the reference's bone direction, so SMPL bones point where the
    source's do; identity for the pelvis and the leaf joints (head, feet, hands)."""
    q = np.tile(np.eye(3), (24, 1, 1))
    for name, child in DIRECTION_CHILD.items():
        j, c = JOINT_NAMES.index(name), JOINT_NAMES.index(child)
        a = smpl_rest[c] - smpl_rest[j]
        b = tpose_pos[c] - tpose_pos[j]
        q[j] = Rotation.align_vectors(b[None], a[None])[0].as_matrix()
    return q


def leg_length(pos, chains=LEG_CHAINS):
    """Mean hip-knee-ankle length of pos (24, 3), in pos's units."""
    ix = [[JOINT_NAMES.index(n) for n in c] for c in chains]
    return np.mean([np.linalg.norm(pos[a] - pos[b]) + np.linalg.norm(pos[b] - pos[c]) for a, b, c in ix])


def _solve(rot, pos, tpose: TPose, skeleton: Skeleton):
    """SMPL local rotations (F, 24, 4) and translation (F, 3) from the mapped
    bones' world rotations and positions and the rest reference (module docstring)."""
    rest = skeleton.rest_joints
    glob = rot @ np.swapaxes(tpose.rot, -1, -2) @ _rest_corrections(tpose.pos, rest)
    local = np.swapaxes(glob[:, PARENTS[1:]], -1, -2) @ glob[:, 1:]
    local = np.concatenate([glob[:, :1], local], axis=1)
    quats = continuous_signs(matrix_to_quat(local))

    scale = leg_length(rest) / leg_length(tpose.pos)
    hips = [JOINT_NAMES.index("left_hip"), JOINT_NAMES.index("right_hip")]
    hip_centre_smpl = fk_positions(quats, np.zeros((len(quats), 3)), rest)[:, hips].mean(1)
    trans = scale * pos[:, hips].mean(1) - hip_centre_smpl
    return quats, trans


def retarget(bvh: Bvh, tpose: TPose = None, skeleton: Skeleton = None, source=None) -> Motion:
    """A CC_Base BVH clip as an SMPL-24 Motion at the file's frame rate.

    The CC T-pose already faces +Z with Y up and arms along +-X, as SMPL's
    rest pose does, so it is the reference as it stands. The T-pose frame 0,
    when present, is dropped. ``tpose``: the rest reference when frame 0 is
    not a T-pose; ``skeleton``: the SMPL body to fit (default: the neutral one).
    """
    rot, pos = _mapped(bvh)
    own = tpose_of(bvh)
    if own is not None:
        rot, pos = rot[1:], pos[1:]
        tpose = own
    if tpose is None:
        raise ValueError(f"{source}: frame 0 is not a T-pose and no reference T-pose was given")
    skeleton = skeleton or Skeleton()
    quats, trans = _solve(rot, pos, tpose, skeleton)
    fps = round(1.0 / bvh.frame_time, 2)
    motion = Motion(quats, trans, fps, skeleton=skeleton,
                    meta={"source": str(source) if source else None, "format": "cmu_bvh", "up_axis": "Y"})
    return level_floor(motion)


# ------------------------------------------------------------ other rigs


def mapped_rig(bvh: Bvh, rig: Rig):
    """World rotations (F, 24, 3, 3) of the driving bones and positions
    (F, 24, 3) of the SMPL joints (Rig.points), file units, SMPL order."""
    extra = sorted(set().union(*(_point_bones(p) for p in rig.points.values())) - set(rig.bones.values())) if rig.points else []
    names = [rig.bones[n] for n in JOINT_NAMES] + extra
    rot, pos = bvh_globals(bvh, names)
    at = {n: k for k, n in enumerate(names)}
    index = {n: j for j, n in enumerate(bvh.names)}
    out = pos[:, :24].copy()
    for smpl, spec in rig.points.items():
        j = JOINT_NAMES.index(smpl)
        if isinstance(spec, str):
            out[:, j] = pos[:, at[spec]]
        elif spec[0] == "end":
            k = at[spec[1]]
            tip = bvh.end_sites.get(index[spec[1]])
            if tip is None:
                raise BadInputError("BVH", f"bone {spec[1]} has no End Site for SMPL {smpl}")
            out[:, j] = pos[:, k] + np.einsum("fij,j->fi", rot[:, k], tip)
        else:
            a, b, t = spec
            out[:, j] = (1 - t) * pos[:, at[a]] + t * pos[:, at[b]]
    return rot[:, :24], out


def detect_unit(leg_in_file_units: float):
    """(name, metres per unit) of the UNITS entry that makes the leg closest to LEG_METRES."""
    name = min(UNITS, key=lambda u: abs(np.log(leg_in_file_units * UNITS[u] / LEG_METRES)))
    return name, UNITS[name]


def snap_fps(fps: float) -> float:
    """A frame rate within 0.5% of a standard one is that one (0.008342 s is 120 fps)."""
    near = min(STANDARD_FPS, key=lambda s: abs(s - fps))
    return near if abs(near - fps) < 0.005 * near else round(fps, 2)


def _up_and_heading(ref_pos):
    """(W, C): W the axis permutation taking the reference's up axis (pelvis
    to neck, the nearest signed world axis) to +Y; C the rotation about +Y
    that then points the reference's left (left hip - right hip) along +X,
    so it faces +Z as SMPL's rest pose does."""
    up = ref_pos[JOINT_NAMES.index("neck")] - ref_pos[0]
    axis = int(np.argmax(np.abs(up)))
    w = np.eye(3)
    if axis != 1:
        target = np.zeros(3)
        target[axis] = np.sign(up[axis])
        w = Rotation.align_vectors([[0.0, 1.0, 0.0]], [target])[0].as_matrix().round()
    elif up[1] < 0:
        w = np.diag([1.0, -1.0, -1.0])
    left = w @ (ref_pos[JOINT_NAMES.index("left_hip")] - ref_pos[JOINT_NAMES.index("right_hip")])
    yaw = np.arctan2(left[2], left[0])  # R_y(yaw) takes (cos yaw, 0, sin yaw) to +X
    c = Rotation.from_euler("y", yaw).as_matrix()
    return w, c


def rest_reference(bvh: Bvh, rig: Rig, path=None) -> tuple:
    """(reference TPose in file units, frames to drop at the start) of a file of ``rig``."""
    if rig.rest == "tpose_frame":
        rot, pos = mapped_rig(bvh.head(1), rig)
        return TPose(rot[0], pos[0]), 1
    if rig.rest == "zero":
        rot, pos = mapped_rig(bvh.with_frames(np.zeros((1, bvh.frames.shape[1]))), rig)
        return TPose(rot[0], pos[0]), 0
    if rig.rest == "stand":
        stand = _stand_frame(Path(path), rig)
        if stand.shape[1] != bvh.frames.shape[1]:
            raise BadInputError(path, f"its channels differ from the performer's stand clip {rig.stand_clip}")
        rot, pos = mapped_rig(bvh.with_frames(stand), rig)
        return TPose(rot[0], pos[0]), 0
    raise ValueError(f"unknown rest kind {rig.rest!r}")


def performer_of(path: Path, rig: Rig) -> str:
    """ACCAD names files accad_<performer>_<take>: the performer part."""
    return Path(path).name.split("_")[1]


@lru_cache(maxsize=8)
def _stand_cached(path: str) -> np.ndarray:
    return read_bvh(path, max_frames=1).frames[:1]


def _stand_frame(path: Path, rig: Rig) -> np.ndarray:
    stand = path.parent / rig.stand_clip.format(performer=performer_of(path, rig))
    if not stand.is_file():
        raise BadInputError(path, f"rest reference {stand.name} (the performer's standing clip) not found beside it")
    return _stand_cached(str(stand))


def retarget_rig(bvh: Bvh, rig: Rig, path=None, fps=None, skeleton: Skeleton = None) -> Motion:
    """A BVH clip of ``rig`` as an SMPL-24 Motion (module docstring), at its
    frame rate (``fps`` overrides a wrong header) with the floor at y = 0."""
    if rig is CC_BASE:
        raise ValueError("CC_Base clips go through retarget() with their T-pose reference")
    ref, drop = rest_reference(bvh, rig, path)
    # Rows of all-zero channels right after the rest frame carry no capture
    # (cgspeed's 009_10 has four): dropped with it.
    empty = np.all(bvh.frames[drop:] == 0, axis=1)
    drop += int(np.argmin(empty)) if not empty.all() else len(empty)
    rot, pos = mapped_rig(bvh, rig)
    rot, pos = rot[drop:], pos[drop:]
    if len(rot) < 2:
        raise BadInputError(path or "BVH", "fewer than two frames of motion")
    leg = leg_length(ref.pos)
    unit_name, unit = ("character", LEG_METRES / leg) if rig.unit == "character" else detect_unit(leg)
    w, c = _up_and_heading(ref.pos)
    # The motion: world up to +Y (W), heading kept. The reference: also faced
    # to +Z (C W); D(t) = W R(t) (C W R_ref)^-1 then carries the heading.
    rot, pos = w @ rot, pos @ w.T * unit
    ref = TPose(c @ w @ ref.rot, ref.pos @ (c @ w).T * unit)
    skeleton = skeleton or Skeleton()
    quats, trans = _solve(rot, pos, ref, skeleton)
    rate = float(fps) if fps else snap_fps(1.0 / bvh.frame_time)
    motion = Motion(quats, trans, rate, skeleton=skeleton,
                    meta={"source": str(path) if path else None, "format": "bvh", "rig": rig.name,
                          "unit": unit_name, "leg_m": float(leg * unit), "up_axis": "Y",
                          "reference_is_tpose": is_tpose(ref.pos, leg * unit)})
    return level_floor(motion)
