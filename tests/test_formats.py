"""refine_core.formats: every input format, the interchange writer, safety.

Real files on disk (tests/format_samples.py builds them with the writers the
tools use: np.savez, joblib.dump, torch.save); no mocks.
"""
import io
import os
import pickle
import stat
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import format_samples as fs
from refine_core.errors import BadInputError
from refine_core.formats import FORMATS, describe, read_motion, write_npz
from refine_core.formats.safe_pickle import load_pickle
from refine_core.rotations import IDENTITY_QUAT, quat_angle_between


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return fs.build_all(tmp_path_factory.mktemp("samples"))


def _max_angle(a, b):
    return float(quat_angle_between(a, b).max())


def _assert_bad(path, *words, track=None):
    """read_motion raises BadInputError naming the file, mentioning ``words``."""
    with pytest.raises(BadInputError) as info:
        read_motion(path, track=track)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    for word in words:
        assert word in msg, msg
    return msg


# ------------------------------------------------------------- reading
@pytest.mark.parametrize("name", list(fs.BUILDERS))
def test_reads_sample(samples, name):
    s = samples[name]
    m = read_motion(s.path)
    assert m.meta["format"] == s.format
    assert m.meta["source"] == str(s.path)
    assert m.rotations.shape == s.rotations.shape
    assert _max_angle(m.rotations, s.rotations) < s.tol
    np.testing.assert_allclose(m.trans, s.trans, atol=1e-6)
    assert m.fps == s.fps and m.meta["fps_assumed"] == s.fps_assumed
    if s.betas is None:
        assert m.betas is None
    else:
        np.testing.assert_allclose(m.betas, s.betas, atol=1e-5)
    assert m.meta.get("gender") == s.gender
    assert set(m.meta["extras"]) == s.extra_keys
    assert m.meta.get("up_axis") == s.up_axis
    assert m.meta["track"] == s.track
    assert {t["id"]: t["frames"] for t in m.meta["tracks"]} == s.tracks
    if s.keypoints_2d is None:
        assert m.keypoints_2d is None
    else:
        np.testing.assert_allclose(m.keypoints_2d, s.keypoints_2d, atol=1e-6)


@pytest.mark.parametrize("name", list(fs.BUILDERS))
def test_write_read_round_trip(samples, name, tmp_path):
    m = read_motion(samples[name].path)
    out = tmp_path / "out.npz"
    write_npz(m, out)
    m2 = read_motion(out)
    assert m2.meta["format"] == "amass_npz"
    assert m2.num_frames == m.num_frames
    assert _max_angle(m2.rotations, m.rotations) < 1e-6
    np.testing.assert_allclose(m2.trans, m.trans, atol=1e-12)
    assert m2.fps == m.fps
    if m.betas is not None:
        np.testing.assert_allclose(m2.betas, m.betas, atol=1e-12)
    assert m2.meta.get("gender") == m.meta.get("gender")
    assert m2.meta.get("up_axis") == m.meta.get("up_axis")
    assert set(m2.meta["extras"]) == set(m.meta["extras"])
    for key, value in m.meta["extras"].items():
        if value.dtype == object:
            assert m2.meta["extras"][key].item() == value.item()
        else:
            np.testing.assert_array_equal(m2.meta["extras"][key], value)
    with np.load(out) as f:  # the interchange keys, readable by plain numpy
        assert f["poses"].shape == (m.num_frames, 72) and f["poses"].dtype == np.float64
        assert f["trans"].shape == (m.num_frames, 3) and f["betas"].shape == (10,)
        assert float(f["mocap_framerate"]) == m.fps


@pytest.mark.parametrize("name, key", [("amass_npz", "poses"), ("smplh_npz", "poses"), ("vibe_pkl", None)])
def test_untouched_frames_written_back_bit_for_bit(samples, tmp_path, name, key):
    s = samples[name]
    m = read_motion(s.path)
    original = np.load(s.path)[key][:, :66] if key else load_pickle(s.path)[1]["pose"][:, :66]
    q = m.rotations.copy()
    q[10:20] = fs.random_quats(10, seed=99)  # a "refined" range
    write_npz(m.replace(rotations=q), tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as f:
        written = f["poses"][:, :66]
    outside = np.r_[0:10, 20:len(q)]
    assert np.array_equal(written[outside], original[outside])
    assert not np.array_equal(written[10:20], original[10:20])


@pytest.mark.parametrize("name", ["smplh_npz", "smplx_npz", "split_npz", "gvhmr_pt"])
def test_smplh_smplx_hand_joints_become_identity(samples, name):
    m = read_motion(samples[name].path)
    assert _max_angle(m.rotations[:, 22:24], np.broadcast_to(IDENTITY_QUAT, (m.num_frames, 2, 4))) < 1e-12


def test_smplh_keeps_finger_poses_as_extra(samples):
    m = read_motion(samples["smplh_npz"].path)
    with np.load(samples["smplh_npz"].path) as f:
        np.testing.assert_array_equal(m.meta["extras"]["pose_hand"], f["poses"][:, 66:])


def test_content_detection_ignores_extension(samples, tmp_path):
    for name, ext in (("vibe_pkl", ".npz"), ("amass_npz", ".pkl"), ("gvhmr_pt", ".bin"), ("array_aa72", ".dat")):
        renamed = tmp_path / f"renamed_{name}{ext}"
        renamed.write_bytes(samples[name].path.read_bytes())
        assert read_motion(renamed).meta["format"] == samples[name].format


def test_plain_pickle_of_a_dict(tmp_path):
    q = fs.random_quats(12, seed=30)
    poses = fs._aa(q).reshape(12, 72)
    path = tmp_path / "plain.pkl"
    with open(path, "wb") as f:
        pickle.dump({"poses": poses, "trans": np.zeros((12, 3)), "mocap_framerate": 50.0}, f, protocol=2)
    m = read_motion(path)
    assert m.meta["format"] == "amass_pkl" and m.fps == 50.0
    assert _max_angle(m.rotations, q) < 1e-6


def test_formats_list():
    ids = [fid for fid, _ in FORMATS]
    for fid in ("amass_npz", "smplh_npz", "smplx_npz", "split_npz", "vibe_pkl", "wham_pkl", "phalp_pkl",
                "gvhmr_pt", "array_npy", "array_npz"):
        assert fid in ids
    assert all(isinstance(desc, str) and desc and "\n" not in desc for _, desc in FORMATS)


# ---------------------------------------------------------------- tracks
def test_track_selection_by_id_and_string(samples):
    path = samples["vibe_pkl"].path
    assert read_motion(path).meta["track"] == 1  # the longest
    m3 = read_motion(path, track=3)
    assert m3.meta["track"] == 3 and m3.num_frames == 25
    assert read_motion(path, track="3").meta["track"] == 3  # as the CLI passes it


def test_numpy_track_ids(tmp_path):
    q = fs.random_quats(8, seed=40)
    joblib.dump({np.int64(4): {"pose": fs._aa(q).reshape(8, 72), "pred_cam": np.zeros((8, 3))}}, tmp_path / "v.pkl")
    m = read_motion(tmp_path / "v.pkl", track="4")
    assert m.meta["track"] == 4 and type(m.meta["track"]) is int
    assert m.meta["tracks"] == [{"id": 4, "frames": 8}]


def test_longest_track_is_default_even_when_not_first(samples):
    m = read_motion(samples["wham_pkl"].path)
    assert m.meta["track"] == 1 and m.num_frames == 40
    assert read_motion(samples["wham_pkl"].path, track=0).num_frames == 30


def test_unknown_track_lists_available(samples):
    msg = _assert_bad(samples["vibe_pkl"].path, "no track 9", track=9)
    assert "1 (40 frames)" in msg and "3 (25 frames)" in msg


def test_track_on_single_motion_file(samples):
    _assert_bad(samples["amass_npz"].path, "single motion", track=0)


def test_phalp_predicted_frame_holds_last_values(samples):
    s = samples["phalp_pkl"]
    m = read_motion(s.path)
    assert not m.meta["extras"]["observed"][5] and m.meta["extras"]["observed"].sum() == 39
    assert m.keypoints_2d[5, :, 2].max() == 0.0 and m.keypoints_2d[4, :, 2].min() == 1.0
    assert m.meta["dropped_keys"] == ["mask"]  # RLE dicts have no array form
    m7 = read_motion(s.path, track=7)
    assert m7.num_frames == 20
    np.testing.assert_array_equal(m7.meta["extras"]["frame_ids"], np.arange(20, 40))


def test_describe(samples):
    d = describe(samples["vibe_pkl"].path)
    assert d["format"] == "vibe_pkl" and d["frames"] == 40 and d["fps"] == 30.0 and d["fps_assumed"]
    assert d["tracks"] == [{"id": 1, "frames": 40}, {"id": 3, "frames": 25}] and d["track"] == 1
    assert d["has_betas"] and d["has_keypoints"] and d["keypoints_shape"] == (40, 25, 3)
    assert "verts" in d["extra_keys"] and d["description"]
    d = describe(samples["smplh_npz"].path)
    assert (d["format"], d["frames"], d["fps"], d["gender"], d["tracks"]) == ("smplh_npz", 40, 60.0, "male", [])
    assert describe(samples["vibe_pkl"].path, track=3)["frames"] == 25


# ------------------------------------------------------------- security
class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["pickle", "joblib", "joblib_zlib", "npz_object"])
def test_malicious_pickle_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    payload = {"poses": np.zeros((3, 72)), "evil": _Payload(marker)}
    path = tmp_path / ("evil.npz" if writer == "npz_object" else "evil.pkl")
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    elif writer == "npz_object":
        np.savez(path, poses=np.zeros((3, 72)), evil=np.array([_Payload(marker)], dtype=object))
    else:
        joblib.dump(payload, path, compress=3 if writer == "joblib_zlib" else 0)
    _assert_bad(path, "refusing to unpickle", "system")
    assert not marker.exists()


def test_malicious_pt_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"smpl_params_global": {"body_pose": torch.zeros(3, 63)}, "evil": _Payload(marker)}, path)
    _assert_bad(path, "refusing to unpickle", "system")
    assert not marker.exists()


# ------------------------------------------------------------ bad input
def _poses_npz(path, frames=10, **override):
    arrays = {"poses": fs._aa(fs.random_quats(frames, seed=1)).reshape(frames, 72),
              "trans": np.zeros((frames, 3)), "mocap_framerate": np.float64(30)}
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_empty_file(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    _assert_bad(tmp_path / "empty.npz", "empty")


def test_missing_file_and_folder(tmp_path):
    _assert_bad(tmp_path / "nope.npz", "not found")
    _assert_bad(tmp_path, "folder")


@pytest.mark.parametrize("name", ["amass_npz", "vibe_pkl", "phalp_pkl", "gvhmr_pt", "array_aa72"])
def test_truncated_file(samples, tmp_path, name):
    data = samples[name].path.read_bytes()
    path = tmp_path / f"cut_{samples[name].path.name}"
    path.write_bytes(data[: len(data) // 2])
    _assert_bad(path)


def test_unknown_format_and_unknown_keys(tmp_path):
    (tmp_path / "notes.npz").write_text("hello, not a motion")
    _assert_bad(tmp_path / "notes.npz", "unknown format")
    np.savez(tmp_path / "other.npz", foo=np.zeros(3), bar=np.ones(2))
    _assert_bad(tmp_path / "other.npz", "unknown format", "foo", "bar")
    joblib.dump({"a": [1, 2]}, tmp_path / "other.pkl")
    _assert_bad(tmp_path / "other.pkl", "unknown format")


def test_wrong_shapes(tmp_path):
    _assert_bad(_poses_npz(tmp_path / "p99.npz", poses=np.zeros((10, 99))), "(10, 99)", "72")
    np.save(tmp_path / "a.npy", np.zeros((10, 7)))
    _assert_bad(tmp_path / "a.npy", "(10, 7)")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    _assert_bad(tmp_path / "s.npy")
    _assert_bad(_poses_npz(tmp_path / "str.npz", poses=np.full((10, 72), "x")), "not a numeric")


def test_mismatched_lengths(tmp_path):
    _assert_bad(_poses_npz(tmp_path / "len.npz", trans=np.zeros((7, 3))), "10 frames")
    np.savez(tmp_path / "split.npz", root_orient=np.zeros((10, 3)), pose_body=np.zeros((8, 63)))
    _assert_bad(tmp_path / "split.npz", "10 frames", "8")


def test_nan_inf_zero_quaternions_bad_fps(tmp_path):
    poses = np.zeros((10, 72))
    poses[4, 5] = np.nan
    _assert_bad(_poses_npz(tmp_path / "nan.npz", poses=poses), "NaN", "4")
    trans = np.zeros((10, 3))
    trans[2] = np.inf
    _assert_bad(_poses_npz(tmp_path / "inf.npz", trans=trans), "2")
    quats = np.tile(IDENTITY_QUAT, (10, 24, 1))
    quats[3, 7] = 0.0
    np.save(tmp_path / "q.npy", quats)
    _assert_bad(tmp_path / "q.npy", "zero", "3")
    _assert_bad(_poses_npz(tmp_path / "fps0.npz", mocap_framerate=np.float64(0)), "frame rate")
    _assert_bad(_poses_npz(tmp_path / "fpsneg.npz", mocap_framerate=np.float64(-30)), "frame rate")


def test_non_rotation_matrices(tmp_path):
    mats = np.tile(np.eye(3), (10, 24, 1, 1))
    mats[6, 2] *= 2.0
    np.save(tmp_path / "m.npy", mats)
    _assert_bad(tmp_path / "m.npy", "not rotation matrices", "6")


def test_wrong_structure_inside_tracker_pickle(tmp_path):
    joblib.dump({0: {"pose": np.zeros((5, 10))}}, tmp_path / "v.pkl")
    _assert_bad(tmp_path / "v.pkl", "(5, 10)")
    joblib.dump({0: {"pose": "not an array"}}, tmp_path / "v2.pkl")
    _assert_bad(tmp_path / "v2.pkl")


# --------------------------------------------------------------- writer
def test_write_replaces_atomically_and_leaves_no_temp(samples, tmp_path):
    out = tmp_path / "motion.npz"
    out.write_bytes(b"old content")
    write_npz(read_motion(samples["amass_npz"].path), out)
    assert zipfile.is_zipfile(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]


def test_failed_write_keeps_old_file_and_removes_temp(samples, tmp_path):
    out = tmp_path / "motion.npz"
    out.write_bytes(b"old content")
    m = read_motion(samples["amass_npz"].path)
    m.meta["extras"] = {"bad": np.array([lambda: None], dtype=object)}  # cannot be pickled
    with pytest.raises((pickle.PicklingError, AttributeError), match="Can.t pickle"):  # AttributeError on Python 3.11
        write_npz(m, out)
    assert out.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]


def test_write_to_unwritable_destination(samples, tmp_path):
    m = read_motion(samples["amass_npz"].path)
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        targets = [folder / "out.npz"] if not os.access(folder, os.W_OK) else []
    finally:
        pass
    if Path("/sys").is_dir():  # root ignores folder modes; sysfs refuses new files even to root
        targets.append(Path("/sys/motion_refine_out.npz"))
    targets.append(tmp_path / "missing_folder" / "out.npz")
    try:
        for target in targets:
            with pytest.raises(BadInputError) as info:
                write_npz(m, target)
            assert str(target) in str(info.value) and "cannot write" in str(info.value)
            assert not target.exists()
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(stat.S_IRWXU)


def test_write_refuses_invalid_motion(samples, tmp_path):
    m = read_motion(samples["amass_npz"].path)
    bad = m.replace(fps=0.0)
    with pytest.raises(BadInputError):
        write_npz(bad, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_writer_keeps_awkward_extra_names(samples, tmp_path):
    m = read_motion(samples["amass_npz"].path)
    m.meta["extras"] = {"file": np.arange(3), "trans": np.ones(2)}  # "trans" must not shadow
    write_npz(m, tmp_path / "x.npz")
    m2 = read_motion(tmp_path / "x.npz")
    np.testing.assert_array_equal(m2.meta["extras"]["file"], np.arange(3))
    np.testing.assert_allclose(m2.trans, m.trans)


# ------------------------------------------------------------- property
_PREFIXES = [b"", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"\x80\x04\x95", b"\x80\x02}q\x00", b"x\x9c",
             b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"]


def _loads_or_bad_input(path):
    try:
        read_motion(path)
    except BadInputError as exc:
        assert str(path) in str(exc)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(_PREFIXES), body=st.binary(max_size=400),
       ext=st.sampled_from([".npz", ".pkl", ".npy", ".pt"]))
def test_any_bytes_load_or_bad_input(tmp_path, prefix, body, ext):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(prefix + body)
    _loads_or_bad_input(path)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["amass_npz", "vibe_pkl", "phalp_pkl", "gvhmr_pt", "array_aa72", "smplx_npz"]),
       edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_corrupted_samples_load_or_bad_input(samples, tmp_path, name, edits, cut):
    data = bytearray(samples[name].path.read_bytes())
    for where, byte in edits:
        data[int(where * len(data))] = byte
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / f"corrupt{samples[name].path.suffix}"
    path.write_bytes(bytes(data))
    _loads_or_bad_input(path)


# ----------------------------------------------------- SMPL model pickles
def _pickle_with_fake_chumpy(obj_fn, protocol):
    """Pickle bytes naming chumpy.ch.Ch, as the official SMPL files do, made
    with a throwaway module (chumpy itself does not import on current numpy)."""
    import sys
    import types

    class Ch:
        def __init__(self, x):
            self.x, self._cache, self._parents = x, {}, {}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch = types.ModuleType("chumpy.ch")
    ch.Ch = Ch
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules.update({"chumpy": types.ModuleType("chumpy"), "chumpy.ch": ch})
    try:
        return pickle.dumps(obj_fn(Ch), protocol=protocol)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


@pytest.mark.parametrize("protocol", [0, 2])
def test_smpl_model_pickle_with_chumpy_and_sparse(tmp_path, protocol):
    import scipy.sparse

    from refine_core.formats.safe_pickle import load_smpl_model_pickle

    rng = np.random.default_rng(0)
    v, j = rng.normal(size=(30, 3)), rng.uniform(size=(24, 30)) * (rng.uniform(size=(24, 30)) > 0.7)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(_pickle_with_fake_chumpy(lambda Ch: {
        "v_template": Ch(v), "shapedirs": Ch(np.zeros((30, 3, 10))), "J_regressor": scipy.sparse.csc_matrix(j),
        "f": np.zeros((4, 3), dtype=np.uint32), "bs_style": "lbs"}, protocol))
    out = load_smpl_model_pickle(path)
    np.testing.assert_array_equal(out["v_template"], v)
    np.testing.assert_array_equal(out["J_regressor"], j)
    assert out["shapedirs"].shape == (30, 3, 10) and out["bs_style"] == "lbs"


def test_smpl_model_pickle_refuses_code(tmp_path):
    from refine_core.formats.safe_pickle import load_smpl_model_pickle

    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Payload(marker)}, protocol=2))
    with pytest.raises(BadInputError, match="refusing to unpickle"):
        load_smpl_model_pickle(path)
    assert not marker.exists()


# ------------------------------------------------ issue 20: inputs people have
def test_fps_given_replaces_the_files_or_assumed_rate(samples, tmp_path):
    vibe = read_motion(samples["vibe_pkl"].path, fps=60)
    assert vibe.fps == 60.0 and vibe.meta["fps_assumed"] is False and vibe.meta["fps_given"] == 60
    amass = read_motion(samples["amass_npz"].path, fps=24.0)  # the file says 120
    assert amass.fps == 24.0
    assert read_motion(samples["amass_npz"].path).meta["fps_given"] is None
    d = describe(samples["wham_pkl"].path, fps=59.94)
    assert d["fps"] == 59.94 and d["fps_assumed"] is False
    assert describe(samples["wham_pkl"].path, 0, 25)["fps"] == 25.0  # describe(path, track=None, fps=None)
    write_npz(vibe, tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as f:
        assert float(f["mocap_framerate"]) == 60.0
    for bad in (0, -5, float("nan"), "fast"):
        _assert_bad_fps(samples["vibe_pkl"].path, bad)


def _assert_bad_fps(path, fps):
    with pytest.raises(BadInputError) as info:
        read_motion(path, fps=fps)
    assert "frame rate" in str(info.value) and "\n" not in str(info.value)  # names --fps (checked before reading)


def test_aistpp_metres_and_rate(samples):
    s = samples["aistpp_pkl"]
    m = read_motion(s.path)
    raw = pickle.loads(s.path.read_bytes())
    np.testing.assert_allclose(m.trans * raw["smpl_scaling"][0], raw["smpl_trans"], rtol=1e-6)  # back to AIST++'s cm
    assert 0.5 < np.median(m.trans[:, 1]) < 1.5  # a standing pelvis height in metres, not 90 "cm"
    assert (m.fps, m.meta["fps_assumed"], m.meta["up_axis"]) == (60.0, True, "Y")
    edge = read_motion(samples["edge_pkl"].path)
    assert (edge.fps, edge.meta["up_axis"]) == (30.0, "Z") and "smpl_scaling" not in edge.meta["extras"]


def test_glamr_pelvis_lands_where_glamr_put_it(samples):
    s = samples["glamr_pkl"]
    raw = pickle.loads(s.path.read_bytes())
    for pid in (0, 1):
        m = read_motion(s.path, track=pid)
        person = raw["person_data"][pid]
        assert m.num_frames == len(person["smpl_pose"])
        # FK with the default (neutral) skeleton puts the root joint at GLAMR's root_trans_world
        np.testing.assert_allclose(m.joints()[:, 0], person["root_trans_world"], atol=1e-6)
    assert "frame2ind" in read_motion(s.path).meta["dropped_keys"]


def test_humandata_rows_split_by_person(samples):
    s = samples["humandata_npz"]
    m3 = read_motion(s.path, track=3)
    assert m3.num_frames == 25
    np.testing.assert_array_equal(m3.meta["extras"]["frame_id"], np.arange(25))
    assert set(m3.meta["extras"]["person_id"]) == {3} and len(m3.meta["extras"]["image_path"]) == 25
    assert read_motion(s.path).meta["track"] == 5


def test_romp_tracks_and_untracked_single_person(samples, tmp_path):
    s = samples["romp_npz"]
    m9 = read_motion(s.path, track=9)
    assert m9.num_frames == 10
    np.testing.assert_array_equal(m9.meta["extras"]["frame_id"], np.arange(30, 40))
    rng = np.random.default_rng(1)
    q = fs.random_quats(6, seed=4)
    frames = {f"{t:08d}.jpg": fs._romp_frame(q[t:t + 1], rng, 1) for t in range(6)}
    np.savez(tmp_path / "video_results.npz", results=frames, sequence_results={})
    m = read_motion(tmp_path / "video_results.npz")
    assert m.meta["format"] == "romp_npz" and m.meta["tracks"] == []
    assert _max_angle(m.rotations, q) < 1e-5
    assert list(m.meta["extras"]["frame_names"]) == list(frames)


def test_npz_holding_only_a_dict_is_read_as_the_dict(tmp_path):
    q = fs.random_quats(8, seed=41)
    np.savez(tmp_path / "wrapped.npz", results={"poses": fs._aa(q).reshape(8, 72), "mocap_framerate": 50.0})
    m = read_motion(tmp_path / "wrapped.npz")
    assert m.meta["format"] == "amass_npz" and m.fps == 50.0 and _max_angle(m.rotations, q) < 1e-6


# ------------------------------------------- issue 20: D3, D5, D6 in one process
def test_build_onto_an_allow_listed_class_does_not_outlive_the_load(samples, tmp_path):
    import bad_inputs as bi
    from refine_core.formats.safe_pickle import _CheckedArrayWrapper

    path = bi._build_onto_wrapper(tmp_path)
    assert len(path.read_bytes()) < 100

    class Stand(pickle._Unpickler):  # what the file does to a class handed out by a plain allow-list
        def find_class(self, module, name):
            return Dummy if name == "NumpyArrayWrapper" else slice

    Dummy = type("Dummy", (), {})
    Stand(io.BytesIO(path.read_bytes())).load()
    assert Dummy.read is slice
    _assert_bad(path, "sets attributes")
    assert "read" not in vars(_CheckedArrayWrapper) or vars(_CheckedArrayWrapper)["read"] is not slice
    for name in ("vibe_pkl", "phalp_pkl", "wham_pkl"):  # joblib files still read in the same process
        assert read_motion(samples[name].path).meta["format"] == samples[name].format


def test_array_record_with_foreign_attributes_is_refused(tmp_path):
    from joblib.numpy_pickle import NumpyArrayWrapper

    wrapper = NumpyArrayWrapper(np.ndarray, (2,), "C", np.dtype("f8"))
    wrapper.read = "hijacked"  # an instance attribute shadowing the checked read
    path = tmp_path / "foreign.pkl"
    path.write_bytes(pickle.dumps({"pose": wrapper}, protocol=2))
    _assert_bad(path, "unexpected attributes")


def test_fifo_input_returns_at_once(tmp_path):
    import threading

    fifo = tmp_path / "motion.npz"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_bad_message(fifo)), daemon=True)
    reader.start()
    reader.join(30)  # a hang guard: an open() of the FIFO would block here for ever
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert "named pipe" in outcome[0]


def _bad_message(path):
    try:
        read_motion(path)
    except BadInputError as exc:
        return str(exc)
    return ""


def test_shared_structure_expanding_past_the_limit_is_refused(tmp_path):
    """A 'billion laughs' pickle: 40 levels of [a, a] share one leaf; small on
    disk, 2**40 values once expanded (memoised here, counted everywhere it appears)."""
    level = [np.zeros(1)]
    for _ in range(40):
        level = [level, level]
    path = tmp_path / "laughs.pkl"
    path.write_bytes(pickle.dumps({"poses": np.zeros((3, 72)), "x": level}, protocol=4))
    assert path.stat().st_size < 10_000
    _assert_bad(path, "holds more than")


def test_oversize_npz_extra_is_dropped_with_a_warning(tmp_path):
    import bad_inputs as bi
    from refine_core.errors import InputWarning

    path = bi._deflate_bomb_npz("walk_with_bomb.npz", "junk")(tmp_path)
    with pytest.warns(InputWarning, match="dropped extra 'junk'"):
        m = read_motion(path)
    assert m.num_frames == 40 and "junk" not in m.meta["extras"] and m.meta["dropped_keys"] == ["junk"]
