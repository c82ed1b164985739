"""File > Import > SMPL motion: file -> ``Motion`` -> armature + keys."""
import os

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..refine_core.errors import BadInputError
from ..refine_core.motion import Motion, resample
from ..refine_core.skeleton import Skeleton
from . import animio, armature
from .prefs import model_path

FILE_GLOB = "*.npz;*.pkl;*.pt;*.pth;*.npy"


# ---------------------------------------------------------------- pure helpers
def resolve_up_axis(mode: str, motion: Motion) -> str:
    """AUTO reads the file's up axis from the meta ("Z" AMASS, "-Y" camera
    frame, else SMPL's Y up); Y_UP and Z_UP force it."""
    if mode != "AUTO":
        return mode
    up = str(motion.meta.get("up_axis") or "y").strip().lower()
    return {"z": "Z_UP", "+z": "Z_UP", "-y": "NEG_Y_UP"}.get(up, "Y_UP")


def set_scene_fps(scene, fps: float) -> str | None:
    """Set the scene rate as Blender stores it, integer fps / fps_base: integer
    rates exactly, others as 29.97 -> 30 / 1.001, rates past 32767 with a
    base below 1. Returns a one-line warning when Blender's limits (fps
    1..32767, base 1e-5..1e6, a float32 base) do not let it hold ``fps``, else None."""
    base = min(max(1, int(round(fps))), scene.render.bl_rna.properties["fps"].hard_max)
    scene.render.fps = base
    scene.render.fps_base = base / fps  # clamped by Blender to its range
    held = scene_fps(scene)
    if abs(held - fps) > 1e-6 * fps:
        return (f"the scene plays at {held:g} fps, the nearest Blender can hold to the file's {fps:g} fps "
                f"(export keeps {fps:g})")
    return None


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def import_motion(context, motion: Motion, name: str, up_axis="AUTO", fps_mode="SET_SCENE", model=None,
                  warnings: list = None):
    """Build the armature (and mesh when ``model`` is given) keyed with
    ``motion``; row 0 at the scene's start frame. Returns the armature;
    what the user should hear about (a scene rate Blender cannot hold) is
    appended to ``warnings``."""
    scene = context.scene
    if context.mode != "OBJECT":  # building bones switches modes; start from object mode
        bpy.ops.object.mode_set(mode="OBJECT")
    if fps_mode == "RESAMPLE":
        motion = resample(motion, scene_fps(scene))
    else:
        warning = set_scene_fps(scene, motion.fps)
        if warning and warnings is not None:
            warnings.append(warning)
    if model is not None:
        motion.skeleton = Skeleton(model.rest_joints(motion.betas), source=str(model.path))
    axis = resolve_up_axis(up_axis, motion)
    obj = armature.build_armature(context, name, motion.skeleton.rest_joints)
    obj.rotation_mode = "XYZ"
    obj.rotation_euler = armature.UP_AXIS_ROTATIONS[axis]
    start = scene.frame_start
    animio.key_motion(obj, motion, start)
    animio.store_meta(obj, motion, start, up_axis=axis)
    if model is not None:
        armature.build_skinned_mesh(context, obj, model, motion.betas)
    scene.frame_end = max(scene.frame_end, start + motion.num_frames - 1)
    _select_only(context, obj)
    return obj


def read_input(filepath, track=None, fps=None):
    """(motion, SMPL model or None) for ``filepath``: the file read and
    validated (``fps`` given: the motion's rate instead of the file's), the
    preferences' model loaded. Everything that can fail happens here, before
    anything is created (the operator and batch share it)."""
    from ..refine_core.formats import read_motion

    motion = read_motion(filepath, track=track, fps=fps)  # read_motion returns a validated motion
    path = model_path(bpy.context)
    model = None
    if path:
        from ..refine_core.smpl_model import load_smpl_model

        model = load_smpl_model(path, gender=str(motion.meta.get("gender") or "neutral"))
    return motion, model


def _select_only(context, obj):
    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj


# ---------------------------------------------------------------- tracks
_track_cache = {"path": None, "items": []}


def _track_items(self, context):
    """Enum items: AUTO (the reader's default: the longest) and each track."""
    path = self.filepath
    if _track_cache["path"] != path:
        items = [("AUTO", "Longest", "The longest track (the reader's default)")]
        for tid in _list_tracks(path):
            items.append((str(tid), f"Track {tid}", f"Person/track {tid} of the file"))
        _track_cache.update(path=path, items=items)
    return _track_cache["items"]


def _list_tracks(path):
    if not path or not os.path.isfile(path):
        return []
    try:
        from ..refine_core.formats import describe

        tracks = describe(path).get("tracks") or []
    except Exception:  # an unreadable file has no tracks; execute reports why
        return []
    return [t.get("id", i) if isinstance(t, dict) else t for i, t in enumerate(tracks)]


def _track_arg(value: str):
    if value in ("", "AUTO"):
        return None
    return int(value) if value.lstrip("-").isdigit() else value


class MOTION_REFINE_OT_import_smpl(bpy.types.Operator, ImportHelper):
    """Import an SMPL motion file as an armature keyed on every frame"""

    bl_idname = "motion_refine.import_smpl"
    bl_label = "Import SMPL Motion"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default=FILE_GLOB, options={"HIDDEN"})
    track: EnumProperty(name="Track", description="Person/track to import from multi-track files", items=_track_items)
    up_axis: EnumProperty(
        name="Up Axis",
        items=[
            ("AUTO", "Auto", "Use the file's up axis if it states one, else Y up (SMPL)"),
            ("Y_UP", "Y Up (SMPL)", "Source is Y up: the armature object is rotated 90 degrees about X"),
            ("Z_UP", "Z Up", "Source is already Z up (e.g. AMASS world frame): no rotation"),
        ],
        default="AUTO",
    )
    fps: FloatProperty(  # SKIP_SAVE: a rate remembered from the last import would override the next file's
        name="Frame Rate", min=0.0, soft_max=240.0, default=0.0, precision=3, options={"SKIP_SAVE"},
        description="The motion's frame rate in fps; 0: the file's (30 when the file has none, as VIBE, WHAM "
                    "or 4D-Humans files)",
    )
    fps_mode: EnumProperty(
        name="Scene Rate",
        items=[
            ("SET_SCENE", "Set Scene FPS", "Set the scene frame rate to the file's"),
            ("RESAMPLE", "Resample", "Resample the motion (slerp) to the scene frame rate"),
        ],
        default="SET_SCENE",
    )

    def execute(self, context):
        try:
            motion, model = self._read()
        except BadInputError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        except Exception as err:  # a reader bug must not leave half an import
            self.report({"ERROR"}, f"{self.filepath}: cannot import ({type(err).__name__}: {err})")
            return {"CANCELLED"}
        name = os.path.splitext(os.path.basename(self.filepath))[0] or "SMPL"
        warnings = []
        obj = import_motion(context, motion, name, self.up_axis, self.fps_mode, model, warnings)
        assumed = " (the file has no frame rate: set Frame Rate if it is not 30)" if motion.meta.get("fps_assumed") else ""
        self.report({"INFO"}, f"Imported {motion.num_frames} frames at {motion.fps:g} fps{assumed} as '{obj.name}'")
        for warning in warnings:
            self.report({"WARNING"}, f"{self.filepath}: {warning}")
        return {"FINISHED"}

    def _read(self):
        # The property is float32: its shortest decimal form is what the user typed (29.97, not 29.9699993).
        fps = float(str(np.float32(self.fps))) if self.fps > 0 else None
        return read_input(self.filepath, _track_arg(self.track), fps)


def menu_import(self, context):
    self.layout.operator(MOTION_REFINE_OT_import_smpl.bl_idname, text="SMPL motion (.npz/.pkl/.pt/.npy)")


CLASSES = (MOTION_REFINE_OT_import_smpl,)
