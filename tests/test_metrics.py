"""refine_core.metrics: zero on identical input, analytic values, invariances."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from refine_core.errors import BadInputError
from refine_core.metrics import (
    accel,
    accel_error,
    evaluate,
    jitter,
    mpjpe,
    mpve,
    pa_mpjpe,
    per_frame_accel,
    root_accel_error,
    root_error,
    velocity_error,
)
from refine_core.synthetic import walking_motion


@pytest.fixture(scope="module")
def walk():
    return walking_motion(60, 30.0, seed=1)


@pytest.fixture(scope="module")
def joints(walk):
    return walk.joints()


def test_identical_is_zero(walk, joints):
    assert mpjpe(joints, joints) == 0.0
    assert pa_mpjpe(joints, joints) < 1e-9
    assert accel_error(joints, joints) == 0.0
    res = evaluate(walk, walk, mask=np.arange(60) % 2 == 0)
    assert set(res) == {"mpjpe", "pa_mpjpe", "accel_error", "accel", "velocity_error", "jitter", "mpjpe_corrupted",
                        "root_error", "root_accel_error"}
    for key in ("mpjpe", "pa_mpjpe", "accel_error", "velocity_error", "mpjpe_corrupted", "root_error",
                "root_accel_error"):
        assert res[key] < 1e-9
    assert res["accel"] > 0 and res["jitter"] > 0


def test_constant_offset_except_pelvis(joints):
    pred = joints.copy()
    pred[:, 1:, 0] += 0.010  # 10 mm on 23 of 24 joints
    assert mpjpe(pred, joints) == pytest.approx(10.0 * 23 / 24)
    assert accel_error(pred, joints) == pytest.approx(0.0, abs=1e-9)


def test_global_translation_is_invisible(joints):
    rng = np.random.default_rng(0)
    pred = joints + rng.normal(size=(len(joints), 1, 3))  # a different shift each frame
    assert mpjpe(pred, joints) == pytest.approx(0.0, abs=1e-9)
    assert accel_error(pred, joints) == pytest.approx(0.0, abs=1e-9)
    assert accel(pred) == pytest.approx(accel(joints))


def test_pa_mpjpe_invariant_to_similarity(joints):
    rng = np.random.default_rng(2)
    pred = joints + rng.normal(scale=0.02, size=joints.shape)
    rot = Rotation.random(len(joints), random_state=3).as_matrix()
    scale = rng.uniform(0.5, 2.0, size=len(joints))
    moved = scale[:, None, None] * np.einsum("tab,tjb->tja", rot, pred) + rng.normal(size=(len(joints), 1, 3))
    base = pa_mpjpe(pred, joints)
    assert base > 1.0
    assert pa_mpjpe(moved, joints) == pytest.approx(base, rel=1e-9)
    # A transformed copy of the truth aligns back exactly.
    exact = scale[:, None, None] * np.einsum("tab,tjb->tja", rot, joints)
    assert pa_mpjpe(exact, joints) == pytest.approx(0.0, abs=1e-9)
    # Procrustes never makes things worse than plain pelvis-aligned MPJPE.
    assert base <= mpjpe(pred, joints)


def test_pa_mpjpe_matches_per_frame_reference(joints):
    """Against a one-frame-at-a-time Umeyama with scipy's orthogonal_procrustes."""
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(4)
    pred = joints[:5] + rng.normal(scale=0.03, size=(5, 24, 3))
    errs = []
    for p, g in zip(pred, joints[:5], strict=True):
        pc, gc = p - p.mean(0), g - g.mean(0)
        r, s = orthogonal_procrustes(pc, gc)  # pc @ r ~ gc
        errs.append(np.linalg.norm(s / np.sum(pc ** 2) * pc @ r - gc, axis=1).mean())
    assert pa_mpjpe(pred, joints[:5]) == pytest.approx(1000 * np.mean(errs), rel=1e-9)


def _spike(num_frames=11, frame=5, joint=5, size=0.010):
    gt = np.zeros((num_frames, 24, 3))
    gt[:, :, 1] = np.arange(24)  # any static pose
    pred = gt.copy()
    pred[frame, joint, 0] += size
    return pred, gt


def test_accel_error_single_spike():
    pred, gt = _spike()
    # Accel frames 3, 4, 5 see the spike with weights 1, -2, 1: norms 10, 20, 10 mm
    # on one joint; mean over 9 accel frames x 24 joints.
    assert accel_error(pred, gt) == pytest.approx(40.0 / (9 * 24))
    # Frame 4 hidden: accel frames 2, 3, 4 touch it and drop out; of 0,1,5..8 only 5 sees 10 mm.
    vis = np.ones(11, dtype=bool)
    vis[4] = False
    assert accel_error(pred, gt, mask=vis) == pytest.approx(10.0 / (6 * 24))
    assert accel(pred) == pytest.approx(40.0 / (9 * 24))


def test_accel_error_rederived_by_loops():
    rng = np.random.default_rng(5)
    pred, gt = rng.normal(size=(2, 6, 4, 3))
    vis = np.array([1, 1, 0, 1, 1, 1], dtype=bool)
    total, count = 0.0, 0
    for t in range(6 - 2):
        if not (vis[t] and vis[t + 1] and vis[t + 2]):
            continue
        for j in range(4):
            a = [0.0, 0.0, 0.0]
            for c in range(3):
                def acc(x, t=t, j=j, c=c):
                    rel = [x[t + k][j][c] - x[t + k][0][c] for k in range(3)]
                    return rel[0] - 2 * rel[1] + rel[2]
                a[c] = acc(pred) - acc(gt)
            total += math.sqrt(sum(v * v for v in a))
            count += 1
    assert accel_error(pred, gt, mask=vis) == pytest.approx(1000 * total / count)


def test_per_frame_accel_spans_every_frame():
    pred, _ = _spike()
    curve = per_frame_accel(pred)
    assert curve.shape == (11,)
    # Centred values: frame 4 -> accel frame 3 (10 mm), frame 5 -> 20 mm, frame 6 -> 10 mm.
    np.testing.assert_allclose(curve[4:7], np.array([10.0, 20.0, 10.0]) / 24)
    assert curve[0] == curve[1] and curve[-1] == curve[-2]
    assert np.mean(curve[1:-1]) == pytest.approx(accel(pred))
    assert per_frame_accel(pred[:2]).shape == (2,)


def test_jitter_of_cubic_motion():
    """x = a t^3 (seconds) has jerk 6a everywhere."""
    fps, a = 30.0, 0.5
    t = np.arange(20) / fps
    pred = np.zeros((20, 2, 3))
    pred[:, 1, 0] = a * t ** 3
    # Mean over 2 joints, only joint 1 moves relative to the pelvis.
    assert jitter(pred, fps) == pytest.approx(6 * a / 2)


def test_mpve_and_masks():
    rng = np.random.default_rng(6)
    verts = rng.normal(size=(4, 10, 3))
    shifted = verts.copy()
    shifted[2] += [0.0, 0.003, 0.004]  # 5 mm on frame 2
    assert mpve(shifted, verts) == pytest.approx(5.0 / 4)
    assert mpve(shifted, verts, mask=[False, False, True, False]) == pytest.approx(5.0)
    pelvis = rng.normal(size=(4, 3))
    assert mpve(verts + pelvis[:, None], verts, pred_pelvis=pelvis) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(mpjpe(verts, verts, mask=np.zeros(4, dtype=bool)))
    with pytest.raises(BadInputError):
        mpjpe(verts, verts, mask=np.ones(3, dtype=bool))


def test_mpjpe_corrupted_counts_masked_frames_only(walk):
    noisy = walk.replace(rotations=walk.rotations.copy())
    noisy.rotations[10:20, 18] = Rotation.from_rotvec([0.0, 0.0, 1.0]).as_quat()
    mask = np.zeros(walk.num_frames, dtype=bool)
    mask[10:20] = True
    res = evaluate(noisy, walk, mask=mask)
    assert res["mpjpe_corrupted"] == pytest.approx(res["mpjpe"] * walk.num_frames / 10)


def test_evaluate_rejects_frame_count_mismatch(walk):
    other = walk.slice(0, 50).replace(meta={"source": "gt.npz"})
    pred = walk.replace(meta={"source": "pred.npz"})
    with pytest.raises(BadInputError, match=r"pred\.npz.*gt\.npz.*60.*50"):
        evaluate(pred, other)


def test_velocity_error_sees_drift_not_offset(joints):
    offset = joints.copy()
    offset[:, 5] += 0.01  # a constant 10 mm offset: no velocity error
    assert velocity_error(offset, joints) < 1e-9
    drift = joints.copy()
    drift[:, 5, 0] += 0.001 * np.arange(len(joints))  # one joint drifts 1 mm/frame
    assert velocity_error(drift, joints) == pytest.approx(1.0 / joints.shape[1], rel=1e-9)
    assert math.isnan(velocity_error(joints[:1], joints[:1]))


def test_root_metrics_see_what_pelvis_alignment_hides(joints):
    """A moved or jittering root leaves the pelvis-aligned metrics at 0; the root metrics measure it."""
    offset = joints + np.array([0.0, 0.0, 0.25])  # 25 cm deeper, every joint
    assert mpjpe(offset, joints) < 1e-9 and accel_error(offset, joints) < 1e-9
    assert root_error(offset, joints) == pytest.approx(250.0)
    assert root_accel_error(offset, joints) < 1e-9
    depth = np.where(np.arange(len(joints)) % 2 == 0, 0.01, -0.01)  # 1 cm back and forth
    jittered = joints + depth[:, None, None] * np.array([0.0, 0.0, 1.0])
    assert accel_error(jittered, joints) < 1e-9
    assert root_accel_error(jittered, joints) == pytest.approx(40.0)  # |0.01 - 2 (-0.01) + 0.01| m
    assert math.isnan(root_accel_error(joints[:2], joints[:2]))
