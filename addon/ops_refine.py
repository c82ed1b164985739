"""Refine Motion: keys -> ``Motion`` -> ``refine_core.refiners.refine`` -> keys.

The work is split so that the modal operator (worker thread), the EXEC path
and the batch script share one implementation:

- ``prepare(obj, settings)``  main thread: read the keys into a ``RefineJob``;
- ``compute(job, progress)``  any thread, no bpy: refine, metrics, graph PNG;
- ``apply(obj, job, result)`` main thread: back up the action (backups.py),
  write the range back, store metrics, load the graph image.

``refine_object`` runs the three in a row.
"""
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from mathutils import Vector

from ..refine_core.errors import BadInputError
from ..refine_core.refiners import METHODS, Cancelled, check_request, refine
from . import animio, armature, backups, external, prefs, review

ALREADY_REFINED = "refining the already-refined keys (original kept)"


@dataclass
class RefineSettings:
    """What to refine: scene frames ``frame_start..frame_end`` inclusive."""

    method: str = "butterworth"
    frame_start: int = 1
    frame_end: int = 250
    blend_frames: int = 0
    strength: float = 1.0
    device: str = "auto"
    params: dict = field(default_factory=dict)
    feet: str = "off"  # "lock": hold planted feet (refine_core.feet)
    feet_params: dict = field(default_factory=dict)


@dataclass
class RefineJob:
    """A refinement read from one armature, ready to run off the main thread."""

    motion: object  # Motion
    rows: tuple  # inclusive 0-based rows
    frame_offset: int  # scene frame of row 0
    settings: RefineSettings
    graph_path: str
    already_refined: bool
    python: str = ""  # External Python (preferences): refine in that interpreter


@dataclass
class RefineResult:
    motion: object
    metrics: dict
    graph_path: str | None
    graph_error: str | None = None


# ---------------------------------------------------------------- the three steps
def prepare(obj, settings: RefineSettings) -> RefineJob:
    """Read ``obj``'s keys; scene frames -> rows (clipped to the motion)."""
    if not armature.is_smpl_armature(obj):
        raise BadInputError(getattr(obj, "name", None), "select an SMPL armature (import one with File > Import)")
    if settings.method not in METHODS:
        raise BadInputError(f"method {settings.method}", f"unknown method; choose one of: {', '.join(METHODS)}")
    try:
        table = animio.curve_table(obj)
    except ValueError as err:
        raise BadInputError(None, str(err)) from None
    backups.check_writable(obj)
    motion = animio.read_motion_from_object(obj)
    first = table.frame_start
    start = max(settings.frame_start, first) - first
    end = min(settings.frame_end, first + motion.num_frames - 1) - first
    if end < start:
        raise BadInputError(
            obj.name, f"frames {settings.frame_start}..{settings.frame_end} lie outside the motion's "
            f"frames {first}..{first + motion.num_frames - 1}")
    return RefineJob(motion, (start, end), first, settings, review.graph_path(obj.name),
                     backups.backup_of(obj) is not None, prefs.external_python(bpy.context))


def compute(job: RefineJob, progress: Callable[[float], None] | None = None) -> RefineResult:
    """Refine and measure (no bpy: safe in a worker thread). ``progress`` may
    raise ``Cancelled``; errors propagate and nothing has been changed."""
    s = job.settings
    run = refine if not job.python else lambda *a, **k: external.refine_external(job.python, *a, **k)
    refined = run(job.motion, s.method, frame_range=job.rows, blend=s.blend_frames, strength=s.strength,
                     device=s.device, params=s.params or None, progress=progress, feet=s.feet,
                     feet_params=s.feet_params or None)
    metrics, curves = review.refine_metrics(job.motion, refined, *job.rows, job.frame_offset,
                                            up_axis=s.feet_params.get("up_axis"))
    try:
        path, err = review.plot_accel(job.graph_path, curves, metrics), None
    except Exception as exc:  # no matplotlib: the keys and numbers still land
        path, err = None, f"graph not drawn ({type(exc).__name__}: {exc})"
    return RefineResult(refined, metrics, path, err)


def apply(obj, job: RefineJob, result: RefineResult) -> dict:
    """Write the refined rows back (into the object's own action, backed up
    before its first refinement), store the metrics, load the graph."""
    backups.prepare_write(obj)
    start, end = job.rows
    animio.write_rows(obj, start, end, result.motion.rotations, result.motion.trans)
    obj[review.METRICS_KEY] = result.metrics
    review.store_contacts(obj, result.motion, job.frame_offset)
    if result.graph_path:
        review.load_graph_image(result.graph_path)
    return result.metrics


def refine_object(obj, settings: RefineSettings, progress=None) -> dict:
    """Refine ``obj``'s keys over ``settings``' frames; returns the metrics.
    Raises BadInputError, Cancelled or the refiner's error with keys unchanged."""
    job = prepare(obj, settings)
    return apply(obj, job, compute(job, progress))


def restore_original(obj) -> bpy.types.Action:
    """Put back the keys the object's action had before it was refined."""
    action = backups.restore(obj)
    for key in (review.METRICS_KEY, review.CONTACTS_KEY):
        if key in obj:
            del obj[key]
    return action


# ---------------------------------------------------------------- frame ranges
def resolve_range(context, obj, mode: str, start: int, end: int):
    """(start, end) scene frames for a range mode."""
    scene = context.scene
    if mode == "SCENE":
        return scene.frame_start, scene.frame_end
    if mode == "PREVIEW":
        if not scene.use_preview_range:
            raise BadInputError(None, "no preview range is set (Timeline > View > Preview Range)")
        return scene.frame_preview_start, scene.frame_preview_end
    if mode == "SELECTED_KEYS":
        return selected_key_range(obj)
    return start, end


def selected_key_range(obj):
    """First and last frame of the selected keys on the motion's curves."""
    try:
        curves = animio.curve_table(obj).all()
    except ValueError as err:
        raise BadInputError(None, str(err)) from None
    lo, hi = np.inf, -np.inf
    for fc in curves:
        n = len(fc.keyframe_points)
        sel = np.zeros(n, dtype=bool)
        fc.keyframe_points.foreach_get("select_control_point", sel)
        if sel.any():
            co = np.empty(2 * n, dtype=np.float32)
            fc.keyframe_points.foreach_get("co", co)
            frames = co[0::2][sel]
            lo, hi = min(lo, frames.min()), max(hi, frames.max())
    if lo > hi:
        raise BadInputError(None, "no keys are selected (select keys in the Graph Editor or Dope Sheet)")
    return int(round(lo)), int(round(hi))


# ---------------------------------------------------------------- properties
def _method_items():
    """Every registered method with its one-line description; learned ones
    without weights are labelled (refining with them reports the reason)."""
    items = []
    for i, m in enumerate(METHODS.values()):
        label = m.name if m.available else f"{m.name} (no weights)"
        items.append((m.name, label, f"[{m.kind}] {m.description}", "NONE" if m.available else "ERROR", i))
    return items


METHOD_ITEMS = _method_items()
RANGE_ITEMS = [
    ("SCENE", "Scene", "The scene's frame range"),
    ("PREVIEW", "Preview", "The timeline's preview range"),
    ("SELECTED_KEYS", "Selected Keys", "From the first to the last selected key"),
    ("CUSTOM", "Custom", "Frame Start .. Frame End below"),
]
DEVICE_ITEMS = [
    ("auto", "Auto", "CUDA when torch sees a GPU, else CPU"),
    ("cpu", "CPU", "Run on the CPU"),
    ("cuda", "CUDA", "Run on the GPU (error if none)"),
]
FEET_SETTINGS = {  # property -> refine_core.feet.FeetParams field
    "feet_lock_radius": "lock_radius", "feet_min_lock_time": "min_lock_time",
    "feet_recovery_frames": "recovery_frames", "feet_speed": "speed",
}
SETTING_NAMES = ("method", "range_mode", "frame_start", "frame_end", "blend_frames", "strength", "device", "params",
                 "lock_feet", *FEET_SETTINGS, "feet_use_floor", "feet_floor")


def _settings_props():
    """The refine settings, shared by the scene's panel and the operator."""
    return {
        "method": EnumProperty(name="Method", items=METHOD_ITEMS, default="butterworth"),
        "range_mode": EnumProperty(name="Range", items=RANGE_ITEMS, default="SCENE"),
        "frame_start": IntProperty(name="Start", description="First scene frame to refine", default=1),
        "frame_end": IntProperty(name="End", description="Last scene frame to refine (inclusive)", default=250),
        "blend_frames": IntProperty(name="Blend", min=0, soft_max=60, default=5,
                                    description="Frames inside each edge of the range cross-faded (slerp) to the input"),
        "strength": FloatProperty(name="Strength", min=0.0, max=1.0, default=1.0, subtype="FACTOR",
                                  description="0 keeps the input, 1 is the fully refined motion"),
        "device": EnumProperty(name="Device", items=DEVICE_ITEMS, default="auto"),
        "params": StringProperty(name="Parameters", default="",
                                 description='Method parameters as k=v or JSON, e.g. cutoff_hz=4 or '
                                             '{"cutoff_hz": 4.0}; empty: defaults'),
        "lock_feet": BoolProperty(name="Lock Feet", default=False,
                                  description="Hold planted feet still on the floor after refining (IK on the legs, "
                                  "root moved where a leg cannot reach)"),
        "feet_lock_radius": FloatProperty(name="Lock Radius", min=0.005, soft_max=0.5, default=0.1, unit="LENGTH",
                                          description="A planted foot drifting further than this starts a new lock"),
        "feet_min_lock_time": FloatProperty(name="Min Lock Time", min=0.0, soft_max=1.0, default=0.1,
                                            unit="TIME_ABSOLUTE", description="Shorter contacts are not locked (seconds)"),
        "feet_recovery_frames": IntProperty(name="Recovery Frames", min=0, soft_max=20, default=3,
                                            description="Frames a lock eases in before and out after a contact"),
        "feet_speed": FloatProperty(name="Contact Speed", min=0.01, soft_max=2.0, default=0.25, unit="VELOCITY",
                                    description="A foot joint slower than this (m/s) may be planted"),
        "feet_use_floor": BoolProperty(name="Set Floor", default=False,
                                       description="Give the floor height instead of estimating it from the planted frames"),
        "feet_floor": FloatProperty(name="Floor Height", default=0.0, unit="LENGTH",
                                    description="Floor height along the armature's up axis, in its own space"),
    }


def feet_settings(props, obj) -> tuple:
    """("lock" or "off", FeetParams overrides) from the panel or operator
    properties; the up axis is the one the armature object shows as world up."""
    params = {field: getattr(props, name) for name, field in FEET_SETTINGS.items()}
    if props.feet_use_floor:
        params["floor"] = props.feet_floor
    params["up_axis"] = world_up_axis(obj)
    return ("lock" if props.lock_feet else "off"), params


def world_up_axis(obj) -> str:
    """The armature-space axis ("Y", "-Z", ...) nearest to Blender's world up."""
    up = np.array(obj.matrix_world.to_3x3().inverted() @ Vector((0.0, 0.0, 1.0)))
    i = int(np.argmax(np.abs(up)))
    return ("-" if up[i] < 0 else "") + "XYZ"[i]


MotionRefineSettings = type("MotionRefineSettings", (bpy.types.PropertyGroup,), {
    "__annotations__": dict(_settings_props(), show_feet_options=BoolProperty(name="Foot Lock Options", default=False)),
    "__doc__": "Refine panel settings (per scene)"})


# ---------------------------------------------------------------- operators
class MOTION_REFINE_OT_refine(bpy.types.Operator):
    """Refine the active armature's keys over a frame range (Esc cancels)"""

    bl_idname = "motion_refine.refine"
    bl_label = "Refine Motion"
    bl_options = {"REGISTER", "UNDO"}
    __annotations__ = _settings_props()

    @classmethod
    def poll(cls, context):
        return armature.is_smpl_armature(context.active_object)

    def _settings(self, context) -> RefineSettings:
        """Unset properties come from the scene's panel settings; explicit
        frame_start/frame_end without range_mode mean a CUSTOM range. The
        resolved values are written back so redo repeats them."""
        panel = context.scene.motion_refine
        for name in SETTING_NAMES:
            if not self.properties.is_property_set(name):
                if name == "range_mode" and (self.properties.is_property_set("frame_start")
                                             or self.properties.is_property_set("frame_end")):
                    value = "CUSTOM"
                else:
                    value = getattr(panel, name)
                setattr(self, name, value)
        obj = context.active_object
        start, end = resolve_range(context, obj, self.range_mode, self.frame_start, self.frame_end)
        feet, feet_params = feet_settings(self, obj)
        request = check_request(self.method, self.blend_frames, self.strength, self.device, self.params, feet, feet_params)
        return RefineSettings(self.method, start, end, self.blend_frames, self.strength, self.device, request.params,
                              feet, feet_params)

    def _prepare(self, context):
        obj = context.active_object
        job = prepare(obj, self._settings(context))
        return obj, job

    def _finish(self, obj, job, result):
        try:
            metrics = apply(obj, job, result)
        except BadInputError as err:  # e.g. a backup assigned while the modal run worked
            return self._error(err)
        note = f" ({ALREADY_REFINED})" if job.already_refined else ""
        self.report({"INFO"}, f"Refined frames {metrics['frame_start']}..{metrics['frame_end']} with "
                    f"{metrics['method']}: accel {metrics['accel_mean_before']:.2f} -> "
                    f"{metrics['accel_mean_after']:.2f} mm/frame^2{note}")
        if result.graph_error:
            self.report({"WARNING"}, result.graph_error)
        return {"FINISHED"}

    def _error(self, err):
        msg = str(err) if isinstance(err, BadInputError) else f"refinement failed ({type(err).__name__}: {err})"
        self.report({"ERROR"}, msg + "; keys unchanged")
        return {"CANCELLED"}

    def execute(self, context):
        try:
            obj, job = self._prepare(context)
            result = compute(job)
        except Exception as err:
            return self._error(err)
        return self._finish(obj, job, result)

    # -- modal: the refiner runs in a worker thread; the UI polls a timer.
    def invoke(self, context, event):
        if context.window is None:  # background: no event loop to poll a worker
            return self.execute(context)
        try:
            self._obj, self._job = self._prepare(context)
        except Exception as err:
            return self._error(err)
        self._state = {"progress": 0.0, "cancel": False, "result": None, "error": None}
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _work(self):
        """Worker thread: no bpy. The progress callback is where Esc lands."""
        def progress(fraction):
            self._state["progress"] = float(fraction)
            if self._state["cancel"]:
                raise Cancelled()
        try:
            self._state["result"] = compute(self._job, progress)
        except BaseException as err:  # handed to the main thread
            self._state["error"] = err

    def modal(self, context, event):
        if event.type == "ESC":
            self._state["cancel"] = True
        if self._thread.is_alive():
            if event.type == "TIMER":
                pct = 100 * self._state["progress"]
                context.window_manager.progress_update(int(pct))
                text = "Cancelling..." if self._state["cancel"] else f"Refining motion: {pct:.0f}%  (Esc to cancel)"
                context.workspace.status_text_set(text)
            # Navigation passes; edits wait so the result lands on the keys it read.
            if event.type in {"MIDDLEMOUSE", "WHEELUPMOUSE", "WHEELDOWNMOUSE", "MOUSEMOVE", "TIMER"}:
                return {"PASS_THROUGH"}
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        err = self._state["error"]
        if self._state["cancel"] or isinstance(err, Cancelled):  # Esc wins even if the work just finished
            self.report({"WARNING"}, "Refine cancelled; keys unchanged")
            return {"CANCELLED"}
        if err is not None:
            return self._error(err)
        return self._finish(self._obj, self._job, self._state["result"])

    def _cleanup(self, context):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)


class MOTION_REFINE_OT_restore_original(bpy.types.Operator):
    """Put back the keys the armature's action had before it was refined"""

    bl_idname = "motion_refine.restore_original"
    bl_label = "Restore Original"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return armature.is_smpl_armature(obj) and backups.backup_of(obj) is not None

    def execute(self, context):
        try:
            action = restore_original(context.active_object)
        except BadInputError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Restored the keys '{action.name}' had before refinement")
        return {"FINISHED"}


CLASSES = backups.CLASSES + (MotionRefineSettings, MOTION_REFINE_OT_refine, MOTION_REFINE_OT_restore_original)


def register_properties():
    bpy.types.Scene.motion_refine = PointerProperty(type=MotionRefineSettings)
    backups.register_properties()


def unregister_properties():
    backups.unregister_properties()
    del bpy.types.Scene.motion_refine
