"""Torch twins of refine_core.rotations for the networks (roma underneath).

The one 6D layout of the project (Zhou et al.): a rotation matrix's first
two columns, concatenated, (..., 6) = [c0 (3), c1 (3)], as
``rotations.matrix_to_rot6d``; back by Gram-Schmidt.
"""
import roma
import torch

IDENTITY_6D = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


def matrix_to_rot6d(mat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return mat[..., :2].transpose(-1, -2).flatten(-2)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (roma.special_gramschmidt)."""
    return roma.special_gramschmidt(rot6d.unflatten(-1, (2, 3)).transpose(-1, -2))


def quat_to_rot6d(quats: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternions xyzw -> (..., 6)."""
    return matrix_to_rot6d(roma.unitquat_to_rotmat(quats))
