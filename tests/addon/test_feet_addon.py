"""Lock Feet in the Refine Motion operator, in real bpy (docs/methods/feet.md)."""
import numpy as np
import pytest

from blender_helpers import write_interchange

bpy = pytest.importorskip("bpy")

from motion_refine.refine_core.train.data import data_root  # noqa: E402  (the package conftest.py loads)

FOOT_BONES = ("left_ankle", "left_foot", "right_ankle", "right_foot")


def import_file(path):
    assert bpy.ops.motion_refine.import_smpl(filepath=str(path)) == {"FINISHED"}
    return bpy.context.active_object


def all_keys(obj):
    from motion_refine.addon import animio

    out = {}
    for fc in animio.curve_table(obj).all():
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co
    return out


def refine(**kwargs):
    args = dict(method="butterworth", range_mode="SCENE", blend_frames=0, lock_feet=True)
    args.update(kwargs)
    return bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, **args)


def bone_world_positions(obj, bone: str, frames) -> np.ndarray:
    """(n, 3) world position of ``bone``'s head at each scene frame, through
    Blender's own pose evaluation (frame_set, then the evaluated pose)."""
    scene = bpy.context.scene
    out = []
    for f in frames:
        scene.frame_set(int(f))
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        out.append(np.array(evaluated.matrix_world @ evaluated.pose.bones[bone].head))
    return np.array(out)


def test_lock_feet_metrics_contacts_graph_and_undo(blender, motion_file):
    obj = import_file(motion_file)
    bpy.ops.ed.undo_push(message="before")
    before = all_keys(obj)
    assert refine(lock_feet=False) == {"FINISHED"}
    obj = bpy.data.objects["walk"]
    assert "motion_refine_contacts" not in obj
    plain = all_keys(obj)
    bpy.ops.ed.undo()
    assert refine() == {"FINISHED"}
    obj = bpy.data.objects["walk"]
    locked = all_keys(obj)
    assert any(not np.array_equal(plain[k], locked[k]) for k in plain)
    metrics = obj["motion_refine_metrics"]
    assert metrics["feet_locked"] and metrics["foot_sliding_after"] < metrics["foot_sliding_before"]
    contacts = obj["motion_refine_contacts"]
    assert set(contacts.keys()) == set(FOOT_BONES)
    runs = np.asarray(contacts["left_ankle"]).reshape(-1, 2)
    assert len(runs) and np.all(runs[:, 0] <= runs[:, 1])
    assert "Refine accel graph" in bpy.data.images

    bpy.ops.ed.undo()  # one step takes back every key
    obj = bpy.data.objects["walk"]
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items())
    assert "motion_refine_contacts" not in obj


def test_lock_feet_follows_a_rotated_armature(blender, tmp_path):
    """A Z-up file shows without object rotation; the lock still finds the floor."""
    import_file(write_interchange(tmp_path / "walk.npz", up_axis="Z"))
    assert refine() == {"FINISHED"}
    assert bpy.data.objects["walk"]["motion_refine_metrics"]["feet_locked"]


@pytest.mark.skipif(not data_root().is_dir(), reason="CMU data folder (../shared/data) not found")
def test_planted_foot_bones_stay_within_5_mm(blender, tmp_path):
    """A CMU walk (007_03) with vibe_like noise, refined by hpr with Lock Feet:
    over each locked contact the ankle and toe bones move less than 5 mm."""
    from motion_refine.refine_core.refiners import METHODS
    from motion_refine.refine_core.train.data import load_bvh
    from motion_refine.refine_core.train.noise import corrupt

    if not METHODS["hpr"].available:
        pytest.skip("hpr has no weights")
    clean = load_bvh(data_root() / "007" / "007_03.bvh", fps=30)
    noisy, _ = corrupt(clean, "vibe_like", np.random.default_rng(0))
    path = tmp_path / "walk.npz"
    np.savez(path, poses=noisy.axis_angle(), trans=noisy.trans, mocap_framerate=np.array(30.0), up_axis=np.array("Y"))
    obj = import_file(path)
    assert refine(method="hpr") == {"FINISHED"}
    obj = bpy.data.objects["walk"]
    contacts = obj["motion_refine_contacts"]
    checked = 0
    for bone in FOOT_BONES:
        for first, last in np.asarray(contacts[bone]).reshape(-1, 2):
            pos = bone_world_positions(obj, bone, range(first, last + 1))
            moved = np.linalg.norm(pos - pos[0], axis=1).max()
            assert moved < 0.005, (bone, first, last, moved)
            checked += 1
    assert checked >= 6
