"""Blender extension entry: the add-on lives in addon/."""
from .addon import register, unregister  # noqa: F401
