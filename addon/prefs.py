"""Add-on preferences: the user's SMPL model file, the External Python;
``user_dir``: where the add-on writes its files."""
import os
import tempfile

import bpy
from bpy.props import StringProperty

# The add-on's module name: the parent of this ``addon`` package, e.g.
# "bl_ext.user_default.motion_refine" when installed, "motion_refine" in tests.
ADDON_ID = __package__.rpartition(".")[0]


class MotionRefinePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    smpl_model_path: StringProperty(
        name="SMPL Model File",
        description="SMPL body model (.pkl or .npz, SMPL format). When set, imports build a skinned mesh "
        "and use the subject's shaped skeleton; leave empty for the neutral default skeleton",
        subtype="FILE_PATH",
    )
    external_python: StringProperty(
        name="External Python",
        description="Optional: a Python interpreter with refine_core's requirements and CUDA torch "
        "(docs/install.md). When set, Refine Motion runs in it as a worker process, on the GPU "
        "when torch sees one; leave empty to refine inside Blender (bundled CPU torch)",
        subtype="FILE_PATH",
    )

    def draw(self, context):
        self.layout.prop(self, "smpl_model_path")
        self.layout.prop(self, "external_python")


def preferences(context):
    """This add-on's preferences, or None when it is registered without an
    add-on entry (e.g. a script that called ``register()`` directly)."""
    entry = context.preferences.addons.get(ADDON_ID)
    return entry.preferences if entry else None


def ensure_addon_entry(context):
    """Give a directly registered add-on its preferences entry, as enabling it
    in Blender does (tests and batch register without addon_utils)."""
    if context.preferences.addons.get(ADDON_ID) is None:
        context.preferences.addons.new().module = ADDON_ID
    return preferences(context)


def model_path(context) -> str:
    prefs = preferences(context)
    path = prefs.smpl_model_path if prefs else ""
    return bpy.path.abspath(path) if path else ""


def external_python(context) -> str:
    """The External Python path, or '' to refine in-process."""
    prefs = preferences(context)
    path = prefs.external_python.strip() if prefs else ""
    return bpy.path.abspath(path) if path else ""


def user_dir(*parts) -> str:
    """A folder for the add-on's caches and files, created if needed: the
    extension's user folder when installed as an extension (never the
    extension's own folder), else a temp folder (tests, batch)."""
    if ADDON_ID.startswith("bl_ext."):
        root = bpy.utils.extension_path_user(ADDON_ID, create=True)
    else:
        root = os.path.join(tempfile.gettempdir(), "motion_refine")
    path = os.path.join(root, *parts)
    os.makedirs(path, exist_ok=True)
    return path


CLASSES = (MotionRefinePreferences,)
