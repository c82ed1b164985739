"""Forward kinematics of the SMPL-24 tree, in numpy and in torch.

Global joint position p_j = p_parent + R_parent_global @ offset_j; the root
sits at rest_joints[0] + trans, as in SMPL (the body rotates about J_0).
"""
import numpy as np

from .rotations import quat_to_matrix
from .skeleton import PARENTS


def fk_positions(rotations, trans, rest_joints):
    """Joint positions from local rotations.

    rotations: (T, 24, 4) quaternions xyzw or (T, 24, 3, 3) matrices;
    trans: (T, 3); rest_joints: (24, 3). Returns (T, 24, 3) metres.
    """
    return fk_globals(rotations, trans, rest_joints)[0]


def fk_globals(rotations, trans, rest_joints, joints=None):
    """As ``fk_positions``, also returning each joint's global rotation:
    ((T, 24, 3) positions, (T, 24, 3, 3) matrices). ``joints``: compute only
    these (a list holding each one's parent), for speed; the others stay zero."""
    rot = np.asarray(rotations, dtype=np.float64)
    n = rot.shape[1]
    todo = np.arange(n) if joints is None else np.sort(np.asarray(joints))
    rest = np.asarray(rest_joints, dtype=np.float64)
    offsets = rest.copy()
    offsets[1:] -= rest[PARENTS[1:]]
    glob = np.zeros(rot.shape[:2] + (3, 3))
    glob[:, todo] = quat_to_matrix(rot[:, todo]) if rot.shape[-1] == 4 else rot[:, todo]
    pos = np.zeros(rot.shape[:2] + (3,))
    pos[:, 0] = rest[0] + np.asarray(trans, dtype=np.float64)
    for j in todo[todo > 0]:
        p = PARENTS[j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
        glob[:, j] = glob[:, p] @ glob[:, j]
    return pos, glob


def fk_positions_torch(rotmats, trans, rest_joints):
    """Torch FK, differentiable. rotmats (..., 24, 3, 3); trans (..., 3);
    rest_joints (24, 3) or (..., 24, 3). Returns (..., 24, 3)."""
    import torch

    rest = torch.as_tensor(rest_joints, dtype=rotmats.dtype, device=rotmats.device)
    parents = PARENTS.tolist()
    offsets = torch.cat([rest[..., :1, :], rest[..., 1:, :] - rest[..., parents[1:], :]], dim=-2)
    glob = [rotmats[..., 0, :, :]]
    pos = [rest[..., 0, :] + trans]
    for j in range(1, rotmats.shape[-3]):
        p = parents[j]
        glob.append(glob[p] @ rotmats[..., j, :, :])
        pos.append(pos[p] + (glob[p] @ offsets[..., j, :, None])[..., 0])
    return torch.stack(pos, dim=-2)
