"""The SMPL-24 skeleton: joint names, parents, rest joints.

Rest joints are positions (24, 3) in metres in SMPL's own frame (Y up, body
facing +Z) for the T-pose; offsets are each joint minus its parent.
"""
from dataclasses import dataclass, field

import numpy as np

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
NUM_JOINTS = 24
PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
)
# Left/right pairs for mirroring (index of the mirrored joint).
MIRROR = np.array(
    [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22]
)

# Rest joints of the gender-neutral SMPL body at zero betas (metres, rounded
# to 0.1 mm): a stand-in good enough for FK metrics when no model file is set.
NEUTRAL_REST_JOINTS = np.array([
    [-0.0018, -0.2233, 0.0282], [0.0695, -0.3143, 0.0239], [-0.0677, -0.3144, 0.0224],
    [-0.0025, -0.1089, 0.0051], [0.1043, -0.6759, 0.0176], [-0.1056, -0.6741, 0.0147],
    [0.0057, 0.0239, 0.0297], [0.0873, -1.0588, -0.0200], [-0.0893, -1.0626, -0.0195],
    [0.0033, 0.0761, 0.0285], [0.1207, -1.1136, 0.0998], [-0.1180, -1.1167, 0.1041],
    [-0.0015, 0.2909, 0.0127], [0.0794, 0.1919, -0.0021], [-0.0781, 0.1921, -0.0069],
    [0.0053, 0.3652, 0.0588], [0.1763, 0.2359, -0.0208], [-0.1727, 0.2363, -0.0163],
    [0.4320, 0.2264, -0.0489], [-0.4273, 0.2283, -0.0499], [0.6939, 0.2393, -0.0498],
    [-0.6915, 0.2414, -0.0519], [0.7749, 0.2321, -0.0664], [-0.7741, 0.2332, -0.0666],
])

# Joints grouped into limb chains (for occlusion noise and reports).
LIMB_CHAINS = {
    "left_leg": (1, 4, 7, 10), "right_leg": (2, 5, 8, 11),
    "left_arm": (13, 16, 18, 20, 22), "right_arm": (14, 17, 19, 21, 23),
    "spine_head": (3, 6, 9, 12, 15),
}
# The joints of the feet, in the column order of foot contacts (refine_core.feet):
# left ankle, left toe (SMPL "foot", the toe base), right ankle, right toe.
FOOT_JOINTS = (LIMB_CHAINS["left_leg"][2], LIMB_CHAINS["left_leg"][3], LIMB_CHAINS["right_leg"][2], LIMB_CHAINS["right_leg"][3])


@dataclass
class Skeleton:
    """Rest pose of one body: ``rest_joints`` (24, 3) metres, SMPL frame.

    ``source`` says where it came from ("neutral default" or a model file).
    """

    rest_joints: np.ndarray = field(default_factory=lambda: NEUTRAL_REST_JOINTS.copy())
    source: str = "neutral default"

    @property
    def parents(self):
        return PARENTS

    @property
    def names(self):
        return JOINT_NAMES

    @property
    def offsets(self):
        """(24, 3) each joint minus its parent; the root's is its rest position."""
        off = self.rest_joints.copy()
        off[1:] -= self.rest_joints[PARENTS[1:]]
        return off


def neutral_skeleton() -> Skeleton:
    return Skeleton()
