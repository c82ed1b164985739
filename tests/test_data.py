"""Training data: BVH reading, CMU retargeting to SMPL-24, split, cache, AMASS folders."""
import numpy as np
import pytest

from refine_core.errors import BadInputError
from refine_core.motion import Motion
from refine_core.rotations import axis_angle_to_quat, matrix_to_quat, quat_angle_between, quat_to_matrix
from refine_core.skeleton import JOINT_NAMES, MIRROR, Skeleton
from refine_core.synthetic import walking_motion
from refine_core.train import augment, data

ROOT = data.data_root()
needs_data = pytest.mark.skipif(not ROOT.is_dir(), reason=f"CMU BVH data not found at {ROOT} (set {data.DATA_ENV})")
J = {n: i for i, n in enumerate(JOINT_NAMES)}

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT Leg
  {
    OFFSET 2 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 -5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.033333
1 2 3 90 0 90 0 0 0 0 0 0
0 0 0 0 0 0 90 0 0 0 0 0
"""


@pytest.fixture(scope="module")
def val30():
    return data.load_cmu(fps=30, split="val")


def _walks(clips):
    return [m for m in clips if "/007/" in m.meta["source"].replace("\\", "/")]


def test_read_bvh_hierarchy_and_channels(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY_BVH)
    bvh = data.read_bvh(path)
    assert bvh.names == ["Hips", "Chest", "Leg"]  # End Sites are not joints
    assert list(bvh.parents) == [-1, 0, 0]
    assert bvh.frames.shape == (2, 12) and bvh.frame_time == pytest.approx(1 / 30, rel=1e-4)
    assert [c[1] for c in bvh.channels] == [0, 6, 9]


def test_bvh_euler_order_is_intrinsic_per_joint(tmp_path):
    """"Zrotation Yrotation Xrotation" is R = Rz Ry Rx: with Z=90, X=90 the
    +Y offset goes to +Z (extrinsic order would send it to -X)."""
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY_BVH)
    bvh = data.read_bvh(path)
    rot, pos = data.bvh_globals(bvh, ["Hips", "Chest"])
    np.testing.assert_allclose(pos[0, 0], [1, 2, 3])  # position channels add to the offset
    np.testing.assert_allclose(pos[0, 1] - pos[0, 0], [0, 0, 10], atol=1e-9)
    # Frame 1: Chest "Zrotation Xrotation Yrotation" = Z 90 only; its own rotation
    # does not move it, the root's is identity.
    np.testing.assert_allclose(pos[1, 1], [0, 10, 0], atol=1e-9)
    np.testing.assert_allclose(rot[1, 1] @ [0, 5, 0], [-5, 0, 0], atol=1e-9)


@needs_data
def test_split_is_by_subject_and_fixed():
    train = {p.parent.name for p in data.cmu_files(split="train")}
    val = {p.parent.name for p in data.cmu_files(split="val")}
    assert val == set(data.VAL_SUBJECTS) and train == set(data.TRAIN_SUBJECTS)
    assert not train & val
    assert len(data.cmu_files(split="all")) == len(data.cmu_files(split="train")) + len(data.cmu_files(split="val"))
    with pytest.raises(ValueError):
        data.cmu_files(split="test")


def test_user_folders_train_and_bad_input_is_named(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.bvh").write_text(TINY_BVH)
    assert data.cmu_files(tmp_path, "train") == [tmp_path / "mine" / "a.bvh"]
    assert data.cmu_files(tmp_path, "val") == []
    with pytest.raises(BadInputError, match="'val' split"):
        data.load_cmu(tmp_path, split="val", cache=False)
    with pytest.raises(BadInputError, match="not an iClone CC_Base skeleton"):
        data.load_cmu(tmp_path, split="train", cache=False)


@needs_data
def test_tpose_frame_is_dropped_only_when_present():
    with_tpose = ROOT / "007" / "007_03.bvh"
    without = ROOT / "002" / "002_04.bvh"
    assert data.tpose_of(data.read_bvh(with_tpose, max_frames=1)) is not None
    assert data.tpose_of(data.read_bvh(without, max_frames=1)) is None
    assert data.load_bvh(with_tpose).num_frames == len(data.read_bvh(with_tpose).frames) - 1
    assert data.load_bvh(without).num_frames == len(data.read_bvh(without).frames)


@needs_data
def test_reference_tpose_faces_plus_z_with_y_up():
    """The CC T-pose already stands as SMPL's rest pose: no axis fix needed."""
    tp = data.reference_tpose(ROOT)
    left = tp.pos[J["left_hip"]] - tp.pos[J["right_hip"]]
    assert left[0] > 0.15  # left side along +X
    assert tp.pos[J["head"], 1] - tp.pos[J["pelvis"], 1] > 0.5  # Y up
    assert tp.pos[J["left_foot"], 2] - tp.pos[J["left_ankle"], 2] > 0.08  # toes along +Z
    assert tp.pos[J["left_wrist"], 0] - tp.pos[J["left_shoulder"], 0] > 0.4  # arms along +-X


@needs_data
def test_retarget_is_upright_faces_travel_and_bends_knees_forward(val30):
    for m in _walks(val30):
        j = m.joints()
        assert m.rotations.shape == (m.num_frames, 24, 4) and m.fps == 30.0
        np.testing.assert_allclose(np.linalg.norm(m.rotations, axis=-1), 1.0, atol=1e-9)
        assert np.all(j[:, J["head"], 1] - j[:, 0, 1] > 0.4)
        left = j[:, J["left_hip"]] - j[:, J["right_hip"]]
        forward = np.cross(left, [0.0, 1.0, 0.0])
        vel = np.gradient(j[:, 0], axis=0)
        vel[:, 1] = 0
        cos = np.sum(forward * vel, 1) / np.linalg.norm(forward, axis=1) / np.linalg.norm(vel, axis=1)
        assert np.median(cos) > 0.9, m.meta["source"]  # walks forward, not backward or sideways
        for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
            thigh, shank = j[:, knee] - j[:, hip], j[:, ankle] - j[:, knee]
            bend = np.degrees(np.arccos(np.sum(thigh * shank, 1) / np.linalg.norm(thigh, axis=1) / np.linalg.norm(shank, axis=1)))
            natural = np.sum(np.cross(thigh, shank) * left, 1) > 0  # the shank swings back
            assert bend.max() > 30 and natural[bend > 20].mean() > 0.95


@needs_data
def test_feet_stand_on_a_flat_floor_at_zero(val30):
    """Subject 007's walks at 30 fps: lowest foot joint in contact within a
    few cm of y = 0, little sliding. Measured: p5 -0.1 to -0.9 cm, contact
    median 0.3-0.9 cm, sliding 5-11 cm/s."""
    for m in _walks(val30):
        feet = m.joints()[:, data.FOOT_JOINTS]
        low, speed, point = data.lower_foot(m)
        contact = speed < data.CONTACT_SPEED
        assert contact.mean() > 0.5
        assert abs(np.percentile(feet[..., 1].min(axis=1), 5)) < 0.03
        assert 0.0 <= np.median(low[contact]) < 0.02
        assert np.percentile(low[contact], 90) < 0.05
        on_floor = low < 0.02
        slide = np.linalg.norm(np.gradient(point[:, [0, 2]], axis=0) * m.fps, axis=-1)
        assert np.median(slide[on_floor]) < 0.15, m.meta["source"]


@needs_data
def test_thirty_fps_is_every_second_frame_of_sixty():
    m60 = data.load_bvh(ROOT / "007" / "007_05.bvh")
    m30 = data.load_bvh(ROOT / "007" / "007_05.bvh", fps=30)
    assert m60.fps == 60.0 and m30.fps == 30.0
    assert m30.num_frames == (m60.num_frames + 1) // 2
    np.testing.assert_array_equal(m30.rotations, m60.rotations[::2])
    np.testing.assert_array_equal(m30.trans, m60.trans[::2])


@needs_data
def test_load_cmu_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    files = data.cmu_files(split="val")
    sub = tmp_path / "subset" / "007"
    sub.mkdir(parents=True)
    for f in files:
        if f.parent.name == "007" and f.stem in ("007_03", "007_04"):
            (sub / f.name).symlink_to(f)
    first = data.load_cmu(sub.parent, fps=30, split="val")
    assert len(list(tmp_path.glob("cmu_val_30fps_*.npz"))) == 1
    again = data.load_cmu(sub.parent, fps=30, split="val")
    assert [m.meta["source"] for m in again] == [m.meta["source"] for m in first]
    for a, b in zip(first, again, strict=False):
        np.testing.assert_array_equal(a.rotations, b.rotations)
        np.testing.assert_array_equal(a.trans, b.trans)
        assert a.fps == b.fps == 30.0


def _amass_file(path, frames, fps, width, rng):
    poses = rng.normal(scale=0.3, size=(frames, width))
    trans = np.cumsum(rng.normal(scale=0.01, size=(frames, 3)), axis=0)
    np.savez(path, poses=poses, trans=trans, betas=np.zeros(16), mocap_framerate=np.array(fps), gender="neutral")
    return poses, trans


def test_load_amass_folder_resamples_and_reads_variants(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    poses_h, trans_h = _amass_file(tmp_path / "a" / "b" / "smplh.npz", 41, 120.0, 156, rng)
    poses_s, _ = _amass_file(tmp_path / "a" / "smpl.npz", 20, 60.0, 72, rng)
    np.savez(tmp_path / "a" / "shape.npz", betas=np.zeros(16), gender="neutral")  # no poses: skipped
    motions = data.load_amass_folder(tmp_path, fps=30, up="y")
    assert len(motions) == 2
    smplh, smpl = sorted(motions, key=lambda m: -m.num_frames)
    assert smplh.fps == 30.0 and smplh.num_frames == 11  # 41 frames at 120 fps -> every 4th
    ref = Motion.from_axis_angle(np.c_[poses_h[:, :66], np.zeros((41, 6))], trans_h, 120.0)
    assert quat_angle_between(smplh.rotations, ref.rotations[::4]).max() < 1e-9
    np.testing.assert_allclose(smplh.trans, trans_h[::4], atol=1e-12)
    assert np.all(smplh.rotations[:, 22:] == [0, 0, 0, 1])  # SMPL-H hands -> identity SMPL hands
    assert smpl.num_frames == 10 and smpl.betas.shape == (10,)


def test_load_amass_folder_turns_z_up_to_y_up(tmp_path):
    walk = walking_motion(60, fps=30.0)
    z_up = augment.rotate(walk, data.Z_UP_TO_Y_UP.T)  # Y up -> Z up
    np.savez(tmp_path / "walk.npz", poses=z_up.axis_angle(), trans=z_up.trans, mocap_framerate=30.0)
    (back,) = data.load_amass_folder(tmp_path, fps=30)
    np.testing.assert_allclose(back.joints(), walk.joints(), atol=1e-9)


# ------------------------------------------------------------ augmentation

def _symmetric_skeleton():
    """The neutral rest joints made exactly left-right symmetric."""
    rest = Skeleton().rest_joints
    sym = 0.5 * (rest + rest[MIRROR] * [-1.0, 1.0, 1.0])
    return Skeleton(rest_joints=sym, source="symmetrised neutral")


def _clip(frames=40, seed=0):
    walk = walking_motion(frames, fps=30.0, seed=seed)
    rng = np.random.default_rng(seed)
    # add asymmetric, all-axis rotations so the mirror test sees every component
    extra = quat_to_matrix(axis_angle_to_quat(rng.normal(scale=0.3, size=(frames, 24, 3))))
    rot = matrix_to_quat(quat_to_matrix(walk.rotations) @ extra)
    return walk.replace(rotations=rot, skeleton=_symmetric_skeleton())


def test_mirror_equals_reflected_joints_by_fk():
    m = _clip()
    reflected = m.joints()[:, MIRROR] * [-1.0, 1.0, 1.0]
    np.testing.assert_allclose(augment.mirror(m).joints(), reflected, atol=1e-9)
    # the neutral skeleton is symmetric to a few mm only
    neutral = m.replace(skeleton=Skeleton())
    err = np.abs(augment.mirror(neutral).joints() - neutral.joints()[:, MIRROR] * [-1.0, 1.0, 1.0])
    assert err.max() < 0.025  # neutral rest joints: asymmetric by up to 11 mm


def test_mirror_twice_is_identity():
    m = _clip(seed=1).replace(skeleton=Skeleton())
    twice = augment.mirror(augment.mirror(m))
    np.testing.assert_array_equal(twice.rotations, m.rotations)
    np.testing.assert_allclose(twice.trans, m.trans, atol=1e-15)


def test_yaw_rotation_turns_the_body_rigidly():
    m = _clip(seed=2)
    angle = 0.7
    turned = augment.rotate_yaw(m, angle)
    c, s = np.cos(angle), np.sin(angle)
    yaw = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    np.testing.assert_allclose(turned.joints(), m.joints() @ yaw.T, atol=1e-9)
    # pelvis-aligned shapes are the same up to that rotation; heights unchanged
    a = turned.joints() - turned.joints()[:, :1]
    b = m.joints() - m.joints()[:, :1]
    np.testing.assert_allclose(np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1), atol=1e-9)
    np.testing.assert_allclose(a[..., 1], b[..., 1], atol=1e-9)
    np.testing.assert_array_equal(turned.rotations[:, 1:], m.rotations[:, 1:])


def test_speed_change_and_resample():
    m = _clip(frames=41)
    fast = augment.change_speed(m, 2.0)
    assert fast.num_frames == 21 and fast.fps == m.fps
    np.testing.assert_array_equal(fast.rotations, m.rotations[::2])
    slow = augment.change_speed(m, 0.5)
    assert slow.num_frames == 81
    np.testing.assert_array_equal(slow.rotations[::2], m.rotations)
    mid = quat_angle_between(slow.rotations[1::2], m.rotations[:-1])
    half = quat_angle_between(m.rotations[1:], m.rotations[:-1]) / 2
    np.testing.assert_allclose(mid, half, atol=1e-9)  # slerp halfway
    np.testing.assert_allclose(slow.trans[1::2], 0.5 * (m.trans[1:] + m.trans[:-1]), atol=1e-12)
    assert augment.resample(m, 30.0) is m


def test_random_augment_is_seeded():
    m = _clip()
    a = augment.random_augment(m, np.random.default_rng(3))
    b = augment.random_augment(m, np.random.default_rng(3))
    np.testing.assert_array_equal(a.rotations, b.rotations)
    np.testing.assert_allclose(np.linalg.norm(a.rotations, axis=-1), 1.0, atol=1e-9)
