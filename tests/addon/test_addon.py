"""The Blender layer end to end, in real bpy (docs/architecture.md, "The add-on")."""
import os

import numpy as np
import pytest

from blender_helpers import FPS, NUM_FRAMES, backup_of, write_interchange

bpy = pytest.importorskip("bpy")

ARM = "walk"  # the armature is named after the file


def import_file(path, **kwargs):
    assert bpy.ops.motion_refine.import_smpl(filepath=str(path), **kwargs) == {"FINISHED"}
    return bpy.context.active_object  # import makes the new armature active


def all_keys(obj):
    """Every motion key as {(data_path, index): float32 (n, 2) co array}."""
    from motion_refine.addon import animio

    table = animio.curve_table(obj)
    out = {}
    for fc in table.all():
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)
    return out


def refine(**kwargs):
    args = dict(method="butterworth", frame_start=100, frame_end=400, blend_frames=5)
    args.update(kwargs)
    return bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, **args)


def range_accel(obj, start, end):
    from motion_refine.addon import animio
    from motion_refine.refine_core.metrics import per_frame_accel

    motion = animio.read_motion_from_object(obj)
    return per_frame_accel(motion.joints())[start - 1:end].mean()  # scene frame f = row f - 1


# ---------------------------------------------------------------- import
def test_import_builds_keyed_armature(blender, motion_file):
    from motion_refine.addon import animio
    from motion_refine.refine_core.skeleton import JOINT_NAMES, PARENTS

    obj = import_file(motion_file)
    assert obj.type == "ARMATURE"
    assert sorted(b.name for b in obj.data.bones) == sorted(JOINT_NAMES)
    for j, name in enumerate(JOINT_NAMES[1:], 1):
        assert obj.data.bones[name].parent.name == JOINT_NAMES[PARENTS[j]]
    assert all(pb.rotation_mode == "QUATERNION" for pb in obj.pose.bones)
    keys = all_keys(obj)
    assert len(keys) == 24 * 4 + 3
    assert all(len(co) == NUM_FRAMES for co in keys.values())
    scene = bpy.context.scene
    assert scene.render.fps == 30 and scene.render.fps_base == 1.0
    assert keys[next(iter(keys))][0, 0] == scene.frame_start == 1
    assert scene.frame_end == NUM_FRAMES
    assert tuple(obj.rotation_euler) == pytest.approx((np.pi / 2, 0, 0))  # SMPL Y up -> Blender Z up
    # Blender's own pose evaluation reproduces SMPL forward kinematics.
    motion = animio.read_motion_from_object(obj)
    joints = motion.joints()
    for frame in (1, 250):
        scene.frame_set(frame)
        heads = np.array([obj.pose.bones[n].head for n in JOINT_NAMES])
        np.testing.assert_allclose(heads, joints[frame - 1], atol=1e-5)


def test_import_fps_non_integer_and_resample(blender, tmp_path):
    path = write_interchange(tmp_path / "walk.npz", num_frames=120, fps=29.97)
    import_file(path)
    render = bpy.context.scene.render
    assert render.fps / render.fps_base == pytest.approx(29.97)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.addons.new().module = blender.addon.prefs.ADDON_ID
    bpy.context.scene.render.fps = 24
    path = write_interchange(tmp_path / "walk60.npz", num_frames=121, fps=60.0)
    obj = import_file(path, fps_mode="RESAMPLE")
    assert bpy.context.scene.render.fps == 24
    from motion_refine.addon import animio

    motion = animio.read_motion_from_object(obj)
    assert motion.num_frames == 49 and motion.fps == 24  # 2 s at 24 fps


def test_import_up_axis(blender, motion_file, tmp_path):
    obj = import_file(motion_file, up_axis="Z_UP")
    assert tuple(obj.rotation_euler) == (0.0, 0.0, 0.0)
    amass = write_interchange(tmp_path / "amass.npz", num_frames=30, up_axis=None)  # AMASS world: Z up
    obj = import_file(amass, up_axis="AUTO")  # (operator settings are remembered between calls)
    assert tuple(obj.rotation_euler) == (0.0, 0.0, 0.0)
    camera = write_interchange(tmp_path / "camera.npz", num_frames=30, up_axis="-Y")  # estimator camera frame
    obj = import_file(camera, up_axis="AUTO")
    assert tuple(obj.rotation_euler) == pytest.approx((-np.pi / 2, 0, 0))


def test_bad_file_reports_error_and_creates_nothing(blender, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    before = (len(bpy.data.objects), len(bpy.data.armatures), len(bpy.data.actions))
    with pytest.raises(RuntimeError, match="bad.npz"):
        bpy.ops.motion_refine.import_smpl(filepath=str(bad))
    assert (len(bpy.data.objects), len(bpy.data.armatures), len(bpy.data.actions)) == before


def test_import_with_smpl_model_builds_skinned_mesh(blender, motion_file, tmp_path):
    from motion_refine.addon import armature
    from motion_refine.refine_core.smpl_model import load_smpl_model
    from smpl_fixtures import write_synthetic_smpl_model

    model_file = write_synthetic_smpl_model(tmp_path / "SMPL_TEST.npz")
    blender.addon.prefs.preferences(bpy.context).smpl_model_path = str(model_file)
    obj = import_file(motion_file)
    meshes = [o for o in bpy.data.objects if o.type == "MESH"]
    assert len(meshes) == 1
    body = meshes[0]
    assert body.parent == obj and len(body.data.vertices) == 6890
    assert {g.name for g in body.vertex_groups} == set(obj.data.bones.keys())
    assert body.modifiers[0].type == "ARMATURE" and body.modifiers[0].object == obj
    model = load_smpl_model(model_file)
    betas = np.load(motion_file)["betas"]
    np.testing.assert_allclose(armature.rest_joints(obj), model.rest_joints(betas), atol=1e-5)


# ---------------------------------------------------------------- refine
@pytest.mark.parametrize("method", ["hpr", "butterworth"])
def test_refine_range_undo_restore(blender, motion_file, method):
    from motion_refine.refine_core.refiners import METHODS

    if not METHODS[method].available:
        pytest.skip(f"{method} has no weights")
    obj = import_file(motion_file)
    bpy.ops.ed.undo_push(message="before")
    before = all_keys(obj)
    accel_before = range_accel(obj, 100, 400)

    assert refine(method=method) == {"FINISHED"}
    obj = bpy.data.objects[ARM]
    after = all_keys(obj)
    frames = next(iter(before.values()))[:, 0]
    outside = (frames < 100) | (frames > 400)
    changed = 0
    for key, co in before.items():
        assert np.array_equal(co[outside], after[key][outside]), key  # bit for bit
        assert np.array_equal(co[:, 0], after[key][:, 0])
        changed += int(np.any(co[~outside, 1] != after[key][~outside, 1]))
    assert changed > 50
    assert range_accel(obj, 100, 400) < 0.5 * accel_before
    metrics = obj["motion_refine_metrics"]
    assert metrics["accel_mean_after"] < metrics["accel_mean_before"]
    assert metrics["frame_start"] == 100 and metrics["frame_end"] == 400
    assert metrics["displacement_mean_mm"] > 0
    assert "Refine accel graph" in bpy.data.images
    assert backup_of(obj) is not None and backup_of(obj).use_fake_user

    bpy.ops.ed.undo()  # one step takes back every key (and the kept copy)
    obj = bpy.data.objects[ARM]
    undone = all_keys(obj)
    assert all(np.array_equal(before[k], undone[k]) for k in before)
    assert backup_of(obj) is None

    bpy.ops.ed.redo()
    obj = bpy.data.objects[ARM]
    assert all(np.array_equal(after[k], v) for k, v in all_keys(obj).items())
    assert refine(frame_start=200, frame_end=300) == {"FINISHED"}  # refines the refined keys
    obj = bpy.data.objects[ARM]
    action, backup = obj.animation_data.action.name, backup_of(obj).name
    assert bpy.ops.motion_refine.restore_original() == {"FINISHED"}
    restored = all_keys(obj)
    assert all(np.array_equal(before[k], restored[k]) for k in before)
    assert obj.animation_data.action.name == action  # the keys go back into the same action
    assert backup_of(obj) is None and backup not in bpy.data.actions and "motion_refine_metrics" not in obj


def test_refine_range_modes(blender, motion_file):
    obj = import_file(motion_file)
    scene = bpy.context.scene
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 50, 80
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, range_mode="PREVIEW") == {"FINISHED"}
    assert (obj["motion_refine_metrics"]["frame_start"], obj["motion_refine_metrics"]["frame_end"]) == (50, 80)
    scene.motion_refine.range_mode = "SCENE"
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True) == {"FINISHED"}  # panel settings
    assert (obj["motion_refine_metrics"]["frame_start"], obj["motion_refine_metrics"]["frame_end"]) == (1, NUM_FRAMES)
    from motion_refine.addon import animio

    fc = animio.curve_table(obj).rot[5][1]
    sel = np.zeros(len(fc.keyframe_points), dtype=bool)
    sel[[300, 349]] = True  # rows 300 and 349 = scene frames 301 and 350
    fc.keyframe_points.foreach_set("select_control_point", sel)
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, range_mode="SELECTED_KEYS") == {"FINISHED"}
    assert (obj["motion_refine_metrics"]["frame_start"], obj["motion_refine_metrics"]["frame_end"]) == (301, 350)


def test_hand_edited_curve_is_sampled_and_rekeyed(blender, motion_file):
    """A curve that lost keys is read by evaluation and keyed on refined frames."""
    from motion_refine.addon import animio

    obj = import_file(motion_file)
    fc = animio.curve_table(obj).rot[4][2]
    for _ in range(3):
        fc.keyframe_points.remove(fc.keyframe_points[150])  # frames 151..153 gone
    other_before = all_keys(obj)[(animio.rot_path("left_knee"), 0)].copy()
    assert refine() == {"FINISHED"}
    obj = bpy.data.objects[ARM]
    fc = animio.curve_table(obj).rot[4][2]
    assert len(fc.keyframe_points) == NUM_FRAMES  # re-keyed inside the range
    after = all_keys(obj)[(animio.rot_path("left_knee"), 0)]
    outside = (after[:, 0] < 100) | (after[:, 0] > 400)
    assert np.array_equal(other_before[outside], after[outside])


def test_cancel_leaves_keys_unchanged(blender, motion_file):
    from motion_refine.addon import ops_refine
    from motion_refine.refine_core.refiners import Cancelled

    obj = import_file(motion_file)
    before = all_keys(obj)

    def cancel(fraction):
        raise Cancelled()

    settings = ops_refine.RefineSettings("butterworth", 100, 400, 5)
    with pytest.raises(Cancelled):
        ops_refine.refine_object(obj, settings, progress=cancel)
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items())
    assert backup_of(obj) is None and "motion_refine_metrics" not in obj


def test_refiner_error_leaves_keys_unchanged(blender, motion_file):
    from motion_refine.addon import ops_refine
    from motion_refine.refine_core.errors import BadInputError

    obj = import_file(motion_file)
    before = all_keys(obj)
    settings = ops_refine.RefineSettings("butterworth", 100, 400, 5, params={"cutoff_hz": -1.0})
    with pytest.raises(BadInputError, match="butterworth: cutoff_hz must be a number from 0.01 to 1000"):
        ops_refine.refine_object(obj, settings)
    with pytest.raises(RuntimeError, match="keys unchanged"):  # the refiner raises inside the operator
        refine(params='{"cutoff_hz": -1.0}')
    with pytest.raises(RuntimeError, match="JSON"):
        refine(params="{cutoff")
    with pytest.raises(RuntimeError, match="outside"):
        refine(frame_start=700, frame_end=800)
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items())
    assert backup_of(obj) is None


# ---------------------------------------------------------------- export and review
def test_export_round_trip(blender, motion_file, tmp_path):
    from motion_refine.refine_core.rotations import axis_angle_to_quat, quat_angle_between

    import_file(motion_file)
    out = tmp_path / "out.npz"
    assert bpy.ops.motion_refine.export_smpl(filepath=str(out)) == {"FINISHED"}
    src, dst = np.load(motion_file), np.load(out)
    assert dst["poses"].shape == (NUM_FRAMES, 72)
    angle = quat_angle_between(axis_angle_to_quat(src["poses"].reshape(-1, 24, 3)),
                               axis_angle_to_quat(dst["poses"].reshape(-1, 24, 3)))
    assert angle.max() < 1e-5
    np.testing.assert_allclose(dst["trans"], src["trans"], atol=1e-5)
    assert float(dst["mocap_framerate"]) == FPS
    np.testing.assert_array_equal(dst["betas"], src["betas"])
    assert str(dst["gender"]) == "female"
    np.testing.assert_array_equal(dst["marker_labels"], src["marker_labels"])
    np.testing.assert_array_equal(dst["dmpls"], src["dmpls"])


def test_graph_saved_next_to_blend(blender, motion_file, tmp_path):
    import_file(motion_file)
    assert refine() == {"FINISHED"}
    img = bpy.data.images["Refine accel graph"]
    assert img.size[0] > 100 and img.packed_file is not None
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.context.view_layer.objects.active = bpy.data.objects[ARM]
    assert bpy.ops.motion_refine.save_graph() == {"FINISHED"}
    saved = tmp_path / f"scene_{ARM}_accel.png"
    assert saved.is_file() and saved.read_bytes()[:4] == b"\x89PNG"
    assert os.path.getsize(saved) > 1000


def test_import_from_pose_mode_of_another_armature(blender, motion_file, tmp_path):
    first = import_file(motion_file)
    bpy.ops.object.mode_set(mode="POSE")
    second = import_file(write_interchange(tmp_path / "other.npz", num_frames=40))
    assert bpy.context.mode == "OBJECT" and second != first
    assert len(second.data.bones) == 24 and len(first.data.bones) == 24
