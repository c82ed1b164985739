"""Regenerate docs/images/ui_graph.png and ui_before_after.png (docs/user-guide.md).

    .venv/bin/python tools/make_doc_images.py      # or: blender -b --python tools/make_doc_images.py

Real Blender, headless: the add-on imports a noisy 300-frame synthetic walk
(the tests' SMPL-format body: no licensed model is needed), refines frames
60-240 with butterworth, blend 5, and Workbench renders the trails of the
wrists, the head and the right ankle over frames 125-176, before and after.
The graph is the one the add-on packs into the .blend.
"""
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests"), str(ROOT / "tests" / "addon")]

import _bootstrap  # noqa: E402
import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from blender_helpers import write_interchange  # noqa: E402
from smpl_fixtures import write_synthetic_smpl_model  # noqa: E402

IMAGES = ROOT / "docs" / "images"
TRAIL_ROWS = slice(124, 176)  # scene frames 125..176
TRAIL_JOINTS = ("right_wrist", "head", "right_ankle", "left_wrist")
SIZE = 400


def trails(obj, color, tag):
    """Poly-curve trails of TRAIL_JOINTS over TRAIL_ROWS, parented to the armature."""
    from motion_refine.addon import animio
    from motion_refine.refine_core.skeleton import JOINT_NAMES

    joints = animio.read_motion_from_object(obj).joints()
    made = []
    for name in TRAIL_JOINTS:
        j = JOINT_NAMES.index(name)
        curve = bpy.data.curves.new(f"{tag}_{name}", "CURVE")
        curve.dimensions, curve.bevel_depth = "3D", 0.007
        spline = curve.splines.new("POLY")
        points = joints[TRAIL_ROWS, j]
        spline.points.add(len(points) - 1)
        spline.points.foreach_set("co", np.c_[points, np.ones(len(points))].astype(np.float32).ravel())
        trail = bpy.data.objects.new(curve.name, curve)
        bpy.context.scene.collection.objects.link(trail)
        trail.parent, trail.color = obj, color
        made.append(trail)
    return made


def side_camera(obj):
    """A camera beside the walk at frame 150, looking at the pelvis; Workbench, object colours."""
    from motion_refine.addon import animio

    scene = bpy.context.scene
    joints = animio.read_motion_from_object(obj).joints()
    centre = obj.matrix_world @ Vector(joints[149, 0])
    walk = (obj.matrix_world.to_3x3() @ Vector(joints[160, 0] - joints[140, 0])).normalized()
    side = walk.cross(Vector((0, 0, 1))).normalized()
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.location = centre + 2.7 * side - 0.6 * walk + Vector((0, 0, 0.3))
    cam.rotation_euler = (centre - cam.location).to_track_quat("-Z", "Y").to_euler()
    cam.data.lens = 40
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.color_type = "OBJECT"
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.image_settings.file_format = "PNG"


def render(path):
    scene = bpy.context.scene
    scene.frame_set(150)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def main():
    package = _bootstrap.load_package()
    from motion_refine.addon import prefs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    package.register()
    tmp = Path(tempfile.mkdtemp(prefix="doc_images_"))
    prefs.ensure_addon_entry(bpy.context).smpl_model_path = str(write_synthetic_smpl_model(tmp / "SMPL_SYN.npz"))
    write_interchange(tmp / "walk.npz", num_frames=300)
    bpy.ops.motion_refine.import_smpl(filepath=str(tmp / "walk.npz"))
    obj = bpy.data.objects["walk"]
    side_camera(obj)
    next(o for o in bpy.data.objects if o.type == "MESH").color = (0.8, 0.8, 0.8, 1)
    before = trails(obj, (0.85, 0.25, 0.2, 1), "before")
    render(tmp / "before.png")
    for trail in before:
        trail.hide_render = True
    bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=60, frame_end=240,
                                 blend_frames=5)
    obj = bpy.data.objects["walk"]
    trails(obj, (0.15, 0.4, 0.85, 1), "after")
    render(tmp / "after.png")

    a, b = (Image.open(tmp / f"{name}.png").convert("RGBA") for name in ("before", "after"))
    page = Image.new("RGB", (2 * SIZE, SIZE), "white")
    page.paste(a, (0, 0), a)
    page.paste(b, (SIZE, 0), b)
    draw = ImageDraw.Draw(page)
    draw.text((12, 10), "before: noisy estimator keys (frames 125-176)", fill=(180, 40, 30))
    draw.text((SIZE + 12, 10), "after: butterworth on frames 60-240, blend 5", fill=(30, 70, 160))
    draw.line([(SIZE, 0), (SIZE, SIZE)], fill=(200, 200, 200))
    page.save(IMAGES / "ui_before_after.png", optimize=True)
    (IMAGES / "ui_graph.png").write_bytes(bpy.data.images["Refine accel graph"].packed_file.data)
    print("wrote", IMAGES / "ui_before_after.png", "and", IMAGES / "ui_graph.png",
          "metrics:", dict(obj["motion_refine_metrics"]))


if __name__ == "__main__":
    main()
