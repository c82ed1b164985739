"""File > Export > SMPL motion: keys -> ``Motion`` (with the source meta) -> .npz."""
import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from ..refine_core.errors import BadInputError
from . import animio, armature


def export_object(obj, filepath: str):
    """Write ``obj``'s current keys as the interchange .npz (atomic)."""
    from ..refine_core.formats import write_npz

    if not armature.is_smpl_armature(obj):
        raise BadInputError(getattr(obj, "name", None), "select an SMPL armature to export")
    try:
        motion = animio.read_motion_from_object(obj)
    except ValueError as err:
        raise BadInputError(obj.name, str(err)) from None
    write_npz(motion, filepath)
    return motion


class MOTION_REFINE_OT_export_smpl(bpy.types.Operator, ExportHelper):
    """Export the active SMPL armature's motion as an AMASS-style .npz"""

    bl_idname = "motion_refine.export_smpl"
    bl_label = "Export SMPL Motion"

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return armature.is_smpl_armature(context.active_object)

    def execute(self, context):
        try:
            motion = export_object(context.active_object, self.filepath)
        except BadInputError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        except Exception as err:
            self.report({"ERROR"}, f"{self.filepath}: export failed ({type(err).__name__}: {err})")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {motion.num_frames} frames to {self.filepath}")
        return {"FINISHED"}


def menu_export(self, context):
    self.layout.operator(MOTION_REFINE_OT_export_smpl.bl_idname, text="SMPL motion (.npz)")


CLASSES = (MOTION_REFINE_OT_export_smpl,)
