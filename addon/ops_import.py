"""File > Import > SMPL motion: file -> ``Motion`` -> armature + keys."""
import os

import bpy
from bpy.props import EnumProperty, StringProperty
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


def set_scene_fps(scene, fps: float):
    """Integer rates exactly; others as fps / fps_base (29.97 -> 30 / 1.001)."""
    base = max(1, int(round(fps)))
    scene.render.fps = base
    scene.render.fps_base = base / fps


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def import_motion(context, motion: Motion, name: str, up_axis="AUTO", fps_mode="SET_SCENE", model=None):
    """Build the armature (and mesh when ``model`` is given) keyed with
    ``motion``; row 0 at the scene's start frame. Returns the armature."""
    scene = context.scene
    if context.mode != "OBJECT":  # building bones switches modes; start from object mode
        bpy.ops.object.mode_set(mode="OBJECT")
    if fps_mode == "RESAMPLE":
        motion = resample(motion, scene_fps(scene))
    else:
        set_scene_fps(scene, motion.fps)
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


def read_input(filepath, track=None):
    """(motion, SMPL model or None) for ``filepath``: the file read and
    validated, the preferences' model loaded. Everything that can fail
    happens here, before anything is created (the operator and batch share it)."""
    from ..refine_core.formats import read_motion

    motion = read_motion(filepath, track=track)  # read_motion returns a validated motion
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
    fps_mode: EnumProperty(
        name="Frame Rate",
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
        obj = import_motion(context, motion, name, self.up_axis, self.fps_mode, model)
        self.report({"INFO"}, f"Imported {motion.num_frames} frames at {motion.fps:g} fps as '{obj.name}'")
        return {"FINISHED"}

    def _read(self):
        return read_input(self.filepath, _track_arg(self.track))


def menu_import(self, context):
    self.layout.operator(MOTION_REFINE_OT_import_smpl.bl_idname, text="SMPL motion (.npz/.pkl/.pt/.npy)")


CLASSES = (MOTION_REFINE_OT_import_smpl,)
