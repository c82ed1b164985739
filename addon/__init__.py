"""Blender layer of SMPL Motion Refiner: the only package that imports bpy."""


def register():
    pass


def unregister():
    pass
