"""The reliability corpus (tests/bad_inputs.py) through the add-on, in real bpy,
and the faults tests/addon/test_addon.py does not already cover.

For every bad file: the import operator reports the error (naming the file
and the problem), nothing is created, and the keys of the armature the user
already has are unchanged. Already covered elsewhere, not repeated here:
a cancel on the first progress call and a refiner error from bad parameters
(test_addon.py), the External Python worker dying mid-run or being cancelled
(test_external_worker.py).
"""
import numpy as np
import pytest

import bad_inputs as bi
from blender_helpers import write_interchange

bpy = pytest.importorskip("bpy")

USER_FRAMES = 120


def all_keys(obj):
    """Every motion key as {(data_path, index): float32 (n, 2) co array}."""
    from motion_refine.addon import animio

    out = {}
    for fc in animio.curve_table(obj).all():
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)
    return out


def same_keys(before, obj):
    after = all_keys(obj)
    return before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)


def scene_state():
    """What an import or export could add: objects, data blocks, scene frame range and fps."""
    scene = bpy.context.scene
    return (sorted(o.name for o in bpy.data.objects), len(bpy.data.armatures), len(bpy.data.actions),
            len(bpy.data.meshes), scene.frame_start, scene.frame_end, scene.render.fps, scene.render.fps_base)


@pytest.fixture
def user_armature(blender, tmp_path):
    """The user's work: an imported, keyed armature (active), and its keys."""
    path = write_interchange(tmp_path / "user_walk.npz", num_frames=USER_FRAMES)
    assert bpy.ops.motion_refine.import_smpl(filepath=str(path)) == {"FINISHED"}
    obj = bpy.context.active_object
    return obj, all_keys(obj)


def _case_folder(tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    return folder


# ------------------------------------------------------------ the corpus
@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage == "read"])
def test_bad_file_import_reports_and_changes_nothing(user_armature, tmp_path, name):
    case = bi.BY_NAME[name]
    obj, keys = user_armature
    folder = _case_folder(tmp_path)
    src = case.build(folder)
    before = scene_state()
    with pytest.raises(RuntimeError) as info:
        bpy.ops.motion_refine.import_smpl(filepath=str(src))
    message = str(info.value)
    assert str(src) in message and case.expect in message
    assert len(message.strip().splitlines()) == 1
    assert scene_state() == before
    assert same_keys(keys, obj)
    assert not (folder / bi.MARKER).exists()


@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage == "refine"])
def test_too_short_motion_imports_but_refine_reports_and_keeps_keys(user_armature, tmp_path, name):
    case = bi.BY_NAME[name]
    user_obj, user_keys = user_armature
    src = case.build(_case_folder(tmp_path))
    assert bpy.ops.motion_refine.import_smpl(filepath=str(src)) == {"FINISHED"}
    short = bpy.context.active_object
    keys = all_keys(short)
    with pytest.raises(RuntimeError, match="at least 3.*keys unchanged"):
        bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=1, frame_end=250)
    assert same_keys(keys, short) and short.motion_refine.original is None
    assert same_keys(user_keys, user_obj)


@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage == "ok" and c.name != "frames_100000"])
def test_borderline_file_imports(user_armature, tmp_path, name):
    from motion_refine.refine_core.formats import read_motion

    case = bi.BY_NAME[name]
    user_obj, user_keys = user_armature
    src = case.build(_case_folder(tmp_path))
    assert bpy.ops.motion_refine.import_smpl(filepath=str(src)) == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj is not user_obj
    frames = {len(co) for co in all_keys(obj).values()}
    assert frames == {read_motion(src).num_frames}
    assert same_keys(user_keys, user_obj)


@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage == "output"])
def test_export_to_unwritable_place_reports_and_writes_nothing(user_armature, tmp_path, name):
    case = bi.BY_NAME[name]
    obj, keys = user_armature
    folder = _case_folder(tmp_path)
    out = case.output(folder)
    before, at_path = scene_state(), bi.output_state(out)
    try:
        with pytest.raises(RuntimeError) as info:
            bpy.ops.motion_refine.export_smpl(filepath=str(out))
        assert str(out) in str(info.value) and case.expect in str(info.value)
        assert bi.output_state(out) == at_path  # nothing written, nothing replaced (a link, a device, a folder)
        assert not bi.temps_left(folder)
    finally:
        bi.release(folder)
    assert scene_state() == before and same_keys(keys, obj)


# ---------------------------------------------------------------- faults
def _progress_calls(obj, settings):
    """How many times a full refinement calls progress (compute only: no keys written)."""
    from motion_refine.addon import ops_refine

    calls = []
    ops_refine.compute(ops_refine.prepare(obj, settings), progress=calls.append)
    return len(calls)


@pytest.mark.parametrize("when", ["halfway", "last"])
def test_cancel_halfway_or_at_the_end_leaves_keys(user_armature, when):
    """Cancel on a later progress call than test_addon's first-call cancel:
    after the filter has run, before the keys would be written."""
    from motion_refine.addon import ops_refine
    from motion_refine.refine_core.refiners import Cancelled

    obj, keys = user_armature
    settings = ops_refine.RefineSettings("butterworth", 10, 100, 5)
    n = _progress_calls(obj, settings)
    assert n >= 2
    stop_at = n // 2 if when == "halfway" else n - 1
    seen = []

    def cancel(fraction):
        seen.append(fraction)
        if len(seen) > stop_at:
            raise Cancelled()

    with pytest.raises(Cancelled):
        ops_refine.refine_object(obj, settings, progress=cancel)
    assert len(seen) == stop_at + 1
    assert same_keys(keys, obj)
    assert obj.motion_refine.original is None and "motion_refine_metrics" not in obj


def test_exception_inside_a_refiner_mid_run_leaves_keys(user_armature):
    """A fault raised from inside the refiner's loop (through its progress
    hook) propagates with its message; nothing is written."""
    from motion_refine.addon import ops_refine

    obj, keys = user_armature
    settings = ops_refine.RefineSettings("butterworth", 10, 100, 5)

    def fault(fraction):
        if fraction > 0:
            raise OSError("simulated fault in the middle of refining")

    with pytest.raises(OSError, match="simulated fault"):
        ops_refine.refine_object(obj, settings, progress=fault)
    assert same_keys(keys, obj) and obj.motion_refine.original is None


def test_refiner_exception_message_reaches_the_interface(user_armature):
    """The operator turns the refiner's own exception into an error report
    that carries the message (here: a parameter the filter does not take)."""
    obj, keys = user_armature
    with pytest.raises(RuntimeError, match=r"refinement failed \(TypeError: .*bogus.*\); keys unchanged"):
        bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=10, frame_end=100,
                                     params='{"bogus": 1}')
    assert same_keys(keys, obj) and obj.motion_refine.original is None


def test_refine_after_a_failure_still_works(user_armature):
    """A failed run leaves no state behind: the next one refines normally."""
    obj, keys = user_armature
    with pytest.raises(RuntimeError):
        bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=10, frame_end=100,
                                     params='{"cutoff_hz": -1}')
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=10,
                                        frame_end=100) == {"FINISHED"}
    assert not same_keys(keys, obj) and obj.motion_refine.original is not None
