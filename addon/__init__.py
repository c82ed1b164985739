"""Blender layer of SMPL Motion Refiner: the only package that imports bpy.

Modules: ``compat`` (action API across 4.2..5.x), ``armature`` (bones, mesh,
rotation mapping), ``animio`` (keys <-> Motion), ``ops_import``,
``ops_refine`` (refine/restore and the shared ``refine_object``),
``backups`` (the per-action backups Restore Original puts back),
``external`` (External Python worker),
``ops_export``, ``review`` (metrics and graph), ``ui`` (panel), ``prefs``.
"""
import bpy

from . import batch, ops_export, ops_import, ops_refine, prefs, ui

CLASSES = prefs.CLASSES + ops_import.CLASSES + ops_refine.CLASSES + ops_export.CLASSES + ui.CLASSES


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    ops_refine.register_properties()
    bpy.types.TOPBAR_MT_file_import.append(ops_import.menu_import)
    bpy.types.TOPBAR_MT_file_export.append(ops_export.menu_export)
    batch.register_cli()  # blender -c motion_refine (4.2+)


def unregister():
    batch.unregister_cli()
    bpy.types.TOPBAR_MT_file_export.remove(ops_export.menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(ops_import.menu_import)
    ops_refine.unregister_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
