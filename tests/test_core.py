"""Motion, rotations, skeleton, forward kinematics, user SMPL models."""
import numpy as np
import pytest
import torch

from refine_core import BadInputError, Motion
from refine_core.kinematics import fk_positions, fk_positions_torch
from refine_core.rotations import (
    axis_angle_to_quat,
    continuous_signs,
    matrix_to_rot6d,
    quat_angle_between,
    quat_to_matrix,
    rot6d_to_matrix,
    slerp,
)
from refine_core.skeleton import NEUTRAL_REST_JOINTS, PARENTS
from refine_core.smpl_model import load_smpl_model, posed_vertices
from refine_core.synthetic import walking_motion
from smpl_fixtures import write_synthetic_smpl_model


def random_quats(shape, seed=0):
    q = np.random.default_rng(seed).standard_normal(shape + (4,))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def test_continuous_signs_removes_flips_and_keeps_rotations():
    q = continuous_signs(walking_motion(50).rotations)
    flipped = q * np.where(np.random.default_rng(1).random((50, 24, 1)) < 0.3, -1.0, 1.0)
    fixed = continuous_signs(flipped)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) >= 0)
    assert np.allclose(quat_angle_between(fixed, q), 0, atol=1e-7)


def test_slerp_endpoints_and_midpoint():
    q0, q1 = random_quats((10,), 1), random_quats((10,), 2)
    assert np.allclose(quat_angle_between(slerp(q0, q1, 0.0), q0), 0, atol=1e-7)
    assert np.allclose(quat_angle_between(slerp(q0, q1, 1.0), q1), 0, atol=1e-7)
    mid = slerp(q0, q1, 0.5)
    assert np.allclose(quat_angle_between(mid, q0), quat_angle_between(mid, q1), atol=1e-7)


def test_rot6d_round_trip():
    mats = quat_to_matrix(random_quats((20, 24)))
    assert np.allclose(rot6d_to_matrix(matrix_to_rot6d(mats)), mats, atol=1e-10)


def test_fk_numpy_matches_torch_and_rest_pose():
    motion = walking_motion(30)
    joints = motion.joints()
    torch_joints = fk_positions_torch(
        torch.as_tensor(quat_to_matrix(motion.rotations)), torch.as_tensor(motion.trans), NEUTRAL_REST_JOINTS
    ).numpy()
    assert np.allclose(joints, torch_joints, atol=1e-10)
    ident = np.tile([0, 0, 0, 1.0], (2, 24, 1))
    assert np.allclose(fk_positions(ident, np.zeros((2, 3)), NEUTRAL_REST_JOINTS)[0], NEUTRAL_REST_JOINTS)
    # Rotations keep bone lengths.
    bones = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)
    rest = np.linalg.norm(NEUTRAL_REST_JOINTS[1:] - NEUTRAL_REST_JOINTS[PARENTS[1:]], axis=-1)
    assert np.allclose(bones, rest)


@pytest.fixture(scope="module")
def smpl_model(tmp_path_factory):
    return load_smpl_model(write_synthetic_smpl_model(tmp_path_factory.mktemp("model") / "SMPL_NEUTRAL.npz"))


def test_fk_matches_smplx_on_a_model_file(smpl_model):
    """Our FK on the model's rest joints equals smplx's own posed joints."""
    motion = walking_motion(12, seed=3)
    motion.rotations = axis_angle_to_quat(np.random.default_rng(0).normal(0, 0.4, (12, 24, 3)))
    betas = np.array([0.8, -0.5, 0, 0, 0, 0, 0, 0, 0, 0.3])
    motion.skeleton = smpl_model.skeleton(betas)
    motion.betas = betas
    out = smpl_model.body(
        global_orient=torch.tensor(motion.axis_angle()[:, :3], dtype=torch.float32),
        body_pose=torch.tensor(motion.axis_angle()[:, 3:], dtype=torch.float32),
        transl=torch.tensor(motion.trans, dtype=torch.float32),
        betas=torch.tensor(betas, dtype=torch.float32).expand(12, -1),
    )
    assert np.allclose(motion.joints(), out.joints[:, :24].detach().numpy(), atol=1e-5)
    verts = posed_vertices(smpl_model, motion)
    assert verts.shape == (12, 6890, 3)
    assert np.allclose(verts, out.vertices.detach().numpy(), atol=1e-5)


def test_model_betas_change_rest_joints(smpl_model):
    assert np.allclose(smpl_model.rest_joints(), NEUTRAL_REST_JOINTS, atol=1e-6)
    tall = smpl_model.rest_joints(np.r_[1.0, np.zeros(9)])
    assert np.allclose(tall, NEUTRAL_REST_JOINTS * 1.05, atol=1e-6)


def test_bad_model_files_are_clean_errors(tmp_path):
    bad = tmp_path / "not_a_model.npz"
    np.savez(bad, poses=np.zeros((3, 72)))
    with pytest.raises(BadInputError, match="not_a_model.npz.*missing"):
        load_smpl_model(bad)
    with pytest.raises(BadInputError, match="does not exist"):
        load_smpl_model(tmp_path / "absent.pkl")


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda m: m.rotations.__setitem__((2, 3), np.nan), "NaN"),
        (lambda m: m.rotations.__setitem__((1, 5), 0.0), "zero-length"),
        (lambda m: setattr(m, "fps", -30.0), "frame rate"),
        (lambda m: setattr(m, "trans", m.trans[:-1]), "translation has shape"),
    ],
)
def test_motion_validate_names_source_and_problem(change, problem):
    motion = walking_motion(10)
    change(motion)
    with pytest.raises(BadInputError, match=f"clip.npz: .*{problem}"):
        motion.validate("clip.npz")


def test_axis_angle_round_trip_is_bit_exact_for_untouched_frames():
    poses = np.random.default_rng(2).normal(0, 0.5, (8, 72))
    motion = Motion.from_axis_angle(poses, np.zeros((8, 3)), 30).validate("x")
    assert np.array_equal(motion.axis_angle(), poses)
    motion.rotations[4] = motion.rotations[4].copy()  # the same values again: still exact
    motion.rotations[5, 0] = [0, 0, 0, 1.0]
    out = motion.axis_angle()
    assert np.array_equal(out[:5], poses[:5]) and not np.array_equal(out[5], poses[5])


@pytest.mark.parametrize("value", [8.98846567e307, 1.7e308, 1e200, 1e-3])
def test_validate_normalises_quaternions_of_any_finite_size(value):
    """Found by hypothesis: lengths near the float limit overflowed to inf and
    normalised to zero quaternions."""
    motion = Motion(np.full((2, 24, 4), value), np.zeros((2, 3)), 30.0).validate("x.npz")
    assert np.allclose(motion.rotations, 0.5) and np.all(np.isfinite(motion.joints()))
