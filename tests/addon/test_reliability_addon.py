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
from blender_helpers import backup_of, noisy_walk, write_interchange

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
    assert same_keys(keys, short) and backup_of(short) is None
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
    assert backup_of(obj) is None and "motion_refine_metrics" not in obj


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
    assert same_keys(keys, obj) and backup_of(obj) is None


def test_refiner_exception_message_reaches_the_interface(user_armature):
    """The operator turns the refiner's error into a one-line report that
    carries its message (here: a parameter the filter does not take, which
    the refiners' parameter check names with what is allowed)."""
    obj, keys = user_armature
    with pytest.raises(RuntimeError, match=r"butterworth has no parameter 'bogus'; its parameters: cutoff_hz.*; keys unchanged"):
        bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=10, frame_end=100,
                                     params='{"bogus": 1}')
    assert same_keys(keys, obj) and backup_of(obj) is None


def test_refine_after_a_failure_still_works(user_armature):
    """A failed run leaves no state behind: the next one refines normally."""
    obj, keys = user_armature
    with pytest.raises(RuntimeError):
        bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=10, frame_end=100,
                                     params='{"cutoff_hz": -1}')
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=10,
                                        frame_end=100) == {"FINISHED"}
    assert not same_keys(keys, obj) and backup_of(obj) is not None


# ------------------------------------------- Restore Original: keys never lost
def _refine(frame_start=20, frame_end=100):
    return bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=frame_start,
                                        frame_end=frame_end, blend_frames=0)


def _restore():
    return bpy.ops.motion_refine.restore_original()


def _hand_edit(obj, value=0.25):
    """What an animator does between refinements: move some keys by hand."""
    from motion_refine.addon import animio

    fc = animio.curve_table(obj).rot[5][1]
    for i in (40, 41, 42):
        fc.keyframe_points[i].co.y = value
    fc.update()


def _activate(obj):
    for other in bpy.context.view_layer.objects:
        other.select_set(other == obj)
    bpy.context.view_layer.objects.active = obj


def test_restore_after_hand_edits_gives_the_keys_of_the_latest_refine(user_armature):
    """D13a: refine -> Restore -> hand-edit -> refine -> Restore ends on the
    hand-edited keys (the backup is taken again after a Restore)."""
    obj, imported = user_armature
    assert _refine() == {"FINISHED"} and not same_keys(imported, obj)
    assert _restore() == {"FINISHED"} and same_keys(imported, obj)
    _hand_edit(obj)
    edited = all_keys(obj)
    assert not same_keys(imported, obj)
    assert _refine() == {"FINISHED"} and not same_keys(edited, obj)
    assert _refine(50, 110) == {"FINISHED"}  # refining again keeps the backup from before the first
    assert _restore() == {"FINISHED"}
    assert same_keys(edited, obj)
    assert backup_of(obj) is None and not any(a.motion_refine.backup_of for a in bpy.data.actions)


def test_restore_with_a_second_action_keeps_both_actions(user_armature):
    """D13b: a second action assigned and refined; Restore puts back its keys
    and deletes neither it nor the first (refined) action."""
    from motion_refine.addon import compat

    obj, imported = user_armature
    first = obj.animation_data.action
    assert _refine() == {"FINISHED"}
    first_refined = all_keys(obj)
    second = first.copy()
    second.name = "second take"
    compat.assign_action(obj, second)
    _hand_edit(obj, 0.5)
    second_keys = all_keys(obj)
    assert backup_of(obj) is None  # a copy has keys of its own: it does not share the first's backup...
    assert _refine(30, 90) == {"FINISHED"}
    assert _restore() == {"FINISHED"}
    assert obj.animation_data.action.name == "second take" and same_keys(second_keys, obj)
    assert {"second take", first.name} <= set(bpy.data.actions.keys())
    compat.assign_action(obj, bpy.data.actions[first.name])
    assert same_keys(first_refined, obj)  # ...but restoring it did not touch the first's
    assert _restore() == {"FINISHED"} and same_keys(imported, obj)
    assert "second take" in bpy.data.actions


def test_refining_the_backup_itself_is_refused(user_armature):
    """D13c: the backup assigned to the armature is never written into."""
    from motion_refine.addon import compat

    obj, imported = user_armature
    action = obj.animation_data.action
    assert _refine() == {"FINISHED"}
    backup = backup_of(obj)
    assert backup.use_fake_user and backup.motion_refine.backup_of == action.name
    compat.assign_action(obj, backup)
    assert same_keys(imported, obj)
    with pytest.raises(RuntimeError, match=r"is the backup of .* never changed.*keys unchanged") as info:
        _refine()
    assert len(str(info.value).strip().splitlines()) == 1
    assert same_keys(imported, obj) and obj.animation_data.action == backup
    assert not bpy.ops.motion_refine.restore_original.poll()  # a backup has no backup
    compat.assign_action(obj, action)  # the refined action still restores from it
    assert _restore() == {"FINISHED"} and same_keys(imported, obj)


def test_refining_one_of_two_armatures_sharing_an_action_leaves_the_other(user_armature, tmp_path):
    """D13d: the shared action is made single-user first, as Blender's tools do."""
    from motion_refine.addon import compat

    obj, imported = user_armature
    path = write_interchange(tmp_path / "other.npz", num_frames=USER_FRAMES)
    assert bpy.ops.motion_refine.import_smpl(filepath=str(path)) == {"FINISHED"}
    other = bpy.context.active_object
    shared = obj.animation_data.action
    compat.assign_action(other, shared)
    assert same_keys(imported, other)
    _activate(obj)
    assert _refine() == {"FINISHED"}
    assert other.animation_data.action == shared and same_keys(imported, other) and backup_of(other) is None
    assert obj.animation_data.action != shared and not same_keys(imported, obj)
    assert _restore() == {"FINISHED"} and same_keys(imported, obj) and same_keys(imported, other)
    # Sharing an action that is already refined: the other armature gets a copy with a copy of the backup.
    assert _refine() == {"FINISHED"}
    refined = all_keys(obj)
    compat.assign_action(other, obj.animation_data.action)
    _activate(other)
    assert _refine(60, 110) == {"FINISHED"} and not same_keys(refined, other)
    assert same_keys(refined, obj)
    assert _restore() == {"FINISHED"} and same_keys(imported, other) and same_keys(refined, obj)
    _activate(obj)
    assert _restore() == {"FINISHED"} and same_keys(imported, obj)


def test_backup_survives_save_and_reload(user_armature, tmp_path):
    """The backup has a fake user and its link is saved: Restore works after
    reopening, also after the action was renamed."""
    obj, imported = user_armature
    name = obj.name
    assert _refine() == {"FINISHED"}
    obj.animation_data.action.name = "renamed take"
    blend = tmp_path / "refined.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    obj = bpy.data.objects[name]
    _activate(obj)
    assert backup_of(obj) is not None and backup_of(obj).use_fake_user
    assert _restore() == {"FINISHED"} and same_keys(imported, obj)
    assert obj.animation_data.action.name == "renamed take"


# ---------------------------------------------------- extras through the add-on
def _object_array(shape, items):
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr.reshape(shape)


def test_object_array_extras_keep_their_shape_through_import_and_export(blender, tmp_path):
    """D17: object arrays of equal-length arrays came back with one more axis
    ((2,) -> (2, 2)); import -> export keeps them as the CLI does."""
    poses, trans = noisy_walk(30)
    extras = {
        "pair": _object_array((2,), [np.arange(2), np.arange(2) + 2]),
        "mixed": _object_array((3,), ["x", None, {"k": 1}]),
        "grid": _object_array((2, 2), [np.ones(3), np.zeros(3), "a", 1.5]),
        "none": _object_array((0,), []),
    }
    src = tmp_path / "objects.npz"
    np.savez(src, poses=poses, trans=trans, mocap_framerate=np.array(30.0), **extras)
    assert bpy.ops.motion_refine.import_smpl(filepath=str(src)) == {"FINISHED"}
    out = tmp_path / "exported.npz"
    assert bpy.ops.motion_refine.export_smpl(filepath=str(out)) == {"FINISHED"}
    exported = np.load(out, allow_pickle=True)
    for name, arr in extras.items():
        got = exported[name]
        assert got.dtype == object and got.shape == arr.shape, name
        for a, b in zip(arr.ravel(), got.ravel(), strict=True):
            assert type(a) is type(b) and (np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b), name


# ------------------------------------------------------------ frame rates
def _rate():
    render = bpy.context.scene.render
    return render.fps / render.fps_base


def test_scene_rate_blender_cannot_hold_is_reported(blender, tmp_path, capfd):
    """D15: Blender stores fps as an integer 1..32767 over a base 1e-5..1e6;
    a rate outside what that holds is said, not silently clamped."""
    from motion_refine.addon import ops_import

    scene = bpy.context.scene
    assert ops_import.set_scene_fps(scene, 1e9) is None and _rate() == pytest.approx(1e9, rel=1e-6)  # base < 1
    assert ops_import.set_scene_fps(scene, 29.97) is None and (scene.render.fps, _rate()) == (30, pytest.approx(29.97))
    for fps, held in ((1e10, 32767 / 1e-5), (1e-7, 1e-6)):
        warning = ops_import.set_scene_fps(scene, fps)
        assert warning and f"{fps:g}" in warning and _rate() == pytest.approx(held, rel=1e-6)
    poses, trans = noisy_walk(10)
    src = tmp_path / "slow.npz"
    np.savez(src, poses=poses, trans=trans, mocap_framerate=np.array(1e-7))
    capfd.readouterr()
    assert bpy.ops.motion_refine.import_smpl(filepath=str(src)) == {"FINISHED"}
    out = capfd.readouterr().out
    assert f"{src}: the scene plays at 1e-06 fps" in out and "1e-07 fps" in out


def test_frame_rate_field_sets_the_motions_rate(blender, tmp_path):
    """0 takes the file's rate (30 when it has none); a value replaces it, and export writes it."""
    from motion_refine.addon import animio

    poses, trans = noisy_walk(12)
    bare = tmp_path / "no_rate.npz"
    np.savez(bare, poses=poses, trans=trans)
    assert bpy.ops.motion_refine.import_smpl(filepath=str(bare), fps=0.0) == {"FINISHED"}
    assert _rate() == 30 and animio.read_motion_from_object(bpy.context.active_object).fps == 30
    for given in (60.0, 29.97):
        assert bpy.ops.motion_refine.import_smpl(filepath=str(bare), fps=given) == {"FINISHED"}
        assert _rate() == pytest.approx(given)
        out = tmp_path / f"at_{given:g}.npz"
        assert bpy.ops.motion_refine.export_smpl(filepath=str(out)) == {"FINISHED"}
        assert float(np.load(out)["mocap_framerate"]) == given  # exactly what was typed
    rated = write_interchange(tmp_path / "rated.npz", num_frames=12, fps=30.0)
    assert bpy.ops.motion_refine.import_smpl(filepath=str(rated)) == {"FINISHED"}
    assert _rate() == 30  # the last import's rate is not remembered
    assert bpy.ops.motion_refine.import_smpl(filepath=str(rated), fps=24.0) == {"FINISHED"}
    assert _rate() == 24


# ------------------------------------------------------------ Save Graph
@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage == "output"])
def test_save_graph_to_unwritable_place_is_one_line(user_armature, tmp_path, name):
    """Save Graph writes through atomic_write: one error line naming the file,
    nothing written or replaced (the corpus' output cases, as export)."""
    case = bi.BY_NAME[name]
    assert _refine() == {"FINISHED"}
    folder = _case_folder(tmp_path)
    out = case.output(folder)
    at_path = bi.output_state(out)
    try:
        with pytest.raises(RuntimeError) as info:
            bpy.ops.motion_refine.save_graph(filepath=str(out))
        message = str(info.value).strip()
        assert str(out) in message and case.expect in message and len(message.splitlines()) == 1
        assert bi.output_state(out) == at_path and not bi.temps_left(folder)
    finally:
        bi.release(folder)
    saved = tmp_path / "graph.png"
    assert bpy.ops.motion_refine.save_graph(filepath=str(saved)) == {"FINISHED"}
    assert saved.read_bytes()[:4] == b"\x89PNG"


def test_action_with_a_slot_per_armature_restores_the_right_slot(user_armature, tmp_path):
    """Blender 4.4+: one action animating two armatures through two slots.
    Refining and restoring the one on the second slot touches only its keys."""
    from motion_refine.addon import animio, compat

    if not compat.HAS_SLOTS:
        pytest.skip("no action slots before Blender 4.4")
    first, first_keys = user_armature
    path = write_interchange(tmp_path / "second.npz", num_frames=USER_FRAMES, seed=3)
    assert bpy.ops.motion_refine.import_smpl(filepath=str(path)) == {"FINISHED"}
    second = bpy.context.active_object
    second_keys = all_keys(second)
    own = second.animation_data.action
    shared = first.animation_data.action
    second.animation_data.action = shared
    second.animation_data.action_slot = shared.slots.new(id_type="OBJECT", name=second.name)
    animio.copy_motion_keys(own, shared, second)
    assert same_keys(second_keys, second) and same_keys(first_keys, first)
    _activate(second)
    assert _refine() == {"FINISHED"}
    assert not same_keys(second_keys, second) and same_keys(first_keys, first)
    assert _restore() == {"FINISHED"}
    assert same_keys(second_keys, second) and same_keys(first_keys, first)


def test_original_kept_by_an_older_version_is_restored(user_armature):
    """Files saved before backups were per action hold the original on the
    object ("motion_refine": original, refined): Restore still puts it back."""
    obj, imported = user_armature
    action = obj.animation_data.action
    original = action.copy()
    original.name = action.name + " (original)"
    original.use_fake_user = True
    obj["motion_refine"] = {"original": original, "refined": 1}
    _hand_edit(obj)  # stands for the older version's refinement
    assert backup_of(obj) == original
    assert _restore() == {"FINISHED"} and same_keys(imported, obj)
    assert obj.animation_data.action == action and "motion_refine" not in obj and backup_of(obj) is None
    obj["motion_refine"] = {"original": action.copy(), "refined": 0}  # restored by the older version
    assert backup_of(obj) is None


@pytest.mark.parametrize("damage", ["nan", "zero"])
def test_broken_rotation_key_is_named_by_bone_and_frame(user_armature, damage):
    """D14: a NaN or emptied key is reported with its bone and scene frame, and nothing changes."""
    from motion_refine.addon import animio
    from motion_refine.refine_core.skeleton import JOINT_NAMES

    obj, _ = user_armature
    table = animio.curve_table(obj)
    knee = JOINT_NAMES.index("left_knee")
    for c in range(4) if damage == "zero" else (0,):
        point = table.rot[knee][c].keyframe_points[29]
        point.co[1] = float("nan") if damage == "nan" else 0.0
    frame = int(round(table.rot[knee][0].keyframe_points[29].co[0]))
    before = all_keys(obj)
    with pytest.raises(RuntimeError) as info:
        _refine()
    message = str(info.value)
    assert f"bone left_knee has a NaN, infinite or zero rotation key at frame {frame}" in message, message
    assert "zero norm" not in message
    after = all_keys(obj)
    assert all(np.array_equal(before[k], v, equal_nan=True) for k, v in after.items())
