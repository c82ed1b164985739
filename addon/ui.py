"""The "Refine Motion" panel (3D View and Graph Editor sidebars) and the
graph saving operator."""
import os

import bpy
from bpy.props import StringProperty

from ..refine_core.errors import BadInputError
from ..refine_core.refiners import METHODS
from . import armature, backups, review


class MOTION_REFINE_OT_save_graph(bpy.types.Operator):
    """Save the acceleration graph as a PNG (default: next to the .blend)"""

    bl_idname = "motion_refine.save_graph"
    bl_label = "Save Graph"

    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return review.GRAPH_IMAGE in bpy.data.images

    def execute(self, context):
        path = self.filepath or self._default_path(context)
        if not path:
            self.report({"ERROR"}, "save the .blend first, or give a file path")
            return {"CANCELLED"}
        try:
            review.save_graph(bpy.data.images[review.GRAPH_IMAGE], path)
        except BadInputError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Graph saved to {path}")
        return {"FINISHED"}

    @staticmethod
    def _default_path(context):
        if not bpy.data.filepath:
            return ""
        stem = os.path.splitext(bpy.data.filepath)[0]
        obj = context.active_object
        return f"{stem}_{obj.name if obj else 'refine'}_accel.png"


class MotionRefinePanelBase:
    bl_label = "Refine Motion"
    bl_region_type = "UI"
    bl_category = "Refine"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.operator("motion_refine.import_smpl", icon="IMPORT")
        obj = context.active_object
        if not armature.is_smpl_armature(obj):
            layout.label(text="Select an imported SMPL armature", icon="INFO")
            return
        self.draw_settings(context.scene.motion_refine)
        row = self.layout.row(align=True)
        row.scale_y = 1.4
        row.operator("motion_refine.refine", icon="MOD_SMOOTH")
        self.layout.operator("motion_refine.restore_original", icon="LOOP_BACK")
        action = backups.current_action(obj)
        if backups.is_backup(action):
            self.layout.label(text=f"Backup of '{action.motion_refine.backup_of}': never refined", icon="LOCKED")
        self.draw_review(obj)
        self.layout.operator("motion_refine.export_smpl", icon="EXPORT")

    def draw_settings(self, s):
        layout = self.layout
        layout.prop(s, "method")
        method = METHODS.get(s.method)
        if method is not None:
            col = layout.column(align=True)
            col.label(text=method.description)
            if not method.available:
                col.label(text="No trained weights: pick another method", icon="ERROR")
        layout.prop(s, "range_mode")
        if s.range_mode == "CUSTOM":
            col = layout.column(align=True)
            col.prop(s, "frame_start")
            col.prop(s, "frame_end")
        layout.prop(s, "blend_frames")
        layout.prop(s, "strength")
        layout.prop(s, "device")
        layout.prop(s, "params")
        row = layout.row(align=True)
        row.prop(s, "lock_feet")
        row.prop(s, "show_feet_options", text="", icon="DOWNARROW_HLT" if s.show_feet_options else "RIGHTARROW",
                 emboss=False)
        if s.show_feet_options:
            col = layout.column(align=True)
            col.active = s.lock_feet
            for name in ("feet_lock_radius", "feet_min_lock_time", "feet_recovery_frames", "feet_speed"):
                col.prop(s, name)
            col.prop(s, "feet_use_floor")
            sub = col.column()
            sub.active = s.feet_use_floor
            sub.prop(s, "feet_floor")

    def draw_review(self, obj):
        metrics = obj.get(review.METRICS_KEY)
        if not metrics:
            return
        box = self.layout.box()
        box.label(text=f"{metrics['method']}, frames {metrics['frame_start']}..{metrics['frame_end']}")
        col = box.column(align=True)
        col.label(text=f"Accel mean: {metrics['accel_mean_before']:.2f} -> {metrics['accel_mean_after']:.2f} mm/f²")
        col.label(text=f"Accel peak: {metrics['accel_peak_before']:.2f} -> {metrics['accel_peak_after']:.2f} mm/f²")
        col.label(text=f"Joints moved: {metrics['displacement_mean_mm']:.1f} mm mean, "
                       f"{metrics['displacement_max_mm']:.1f} max")
        before, after = metrics.get("foot_sliding_before"), metrics.get("foot_sliding_after")
        if before is not None and before == before:  # NaN: no planted foot in the range
            locked = " (feet locked)" if metrics.get("feet_locked") else ""
            col.label(text=f"Foot sliding: {before:.1f} -> {after:.1f} mm/frame{locked}")
        img = bpy.data.images.get(review.GRAPH_IMAGE)
        if img is not None:
            if img.preview is not None:
                box.template_icon(icon_value=img.preview.icon_id, scale=12.0)
            else:
                box.label(text=f"Graph: image '{img.name}' (open it in an Image Editor)", icon="IMAGE_DATA")
            box.operator("motion_refine.save_graph", icon="FILE_IMAGE")


class VIEW3D_PT_motion_refine(MotionRefinePanelBase, bpy.types.Panel):
    bl_space_type = "VIEW_3D"


class GRAPH_PT_motion_refine(MotionRefinePanelBase, bpy.types.Panel):
    bl_space_type = "GRAPH_EDITOR"


CLASSES = (MOTION_REFINE_OT_save_graph, VIEW3D_PT_motion_refine, GRAPH_PT_motion_refine)
