"""SMPL Motion Refiner core: Motion, formats, refiners, metrics, CLI. No bpy."""
from .errors import BadInputError
from .motion import Motion
from .skeleton import JOINT_NAMES, PARENTS, Skeleton

__all__ = ["BadInputError", "Motion", "Skeleton", "JOINT_NAMES", "PARENTS"]
__version__ = "0.1.0"
