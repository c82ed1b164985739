"""What every learned method owes real files (issue 17): good motion passes
through, the frame rate, the world's up axis and the root's scale do not
change the pose, the hands pass through. Each file is built here in its
tool's real layout (tests/format_samples.py) and read by read_motion."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from refine_core.formats import read_motion
from refine_core.metrics import pelvis_aligned, root_accel_error
from refine_core.motion import rotate_world
from refine_core.refiners import METHODS, refine
from refine_core.refiners.common import phase_count, robust_root
from refine_core.rotations import quat_angle_between
from refine_core.synthetic import walking_motion
from refine_core.train import noise
from tests.format_samples import make_phalp_pkl, make_smplh_npz, make_wham_pkl

LEARNED = [name for name, m in METHODS.items() if m.kind == "learned" and m.available]
BODY = slice(0, 22)  # SMPL-24 less the hands


def body_mm(a, b) -> float:
    """Mean distance (mm) of the pelvis-aligned body joints of two motions."""
    return float(np.linalg.norm(pelvis_aligned(a.joints())[:, BODY] - pelvis_aligned(b.joints())[:, BODY], axis=-1).mean()) * 1000


def peak_accel(motion) -> float:
    """Largest per-frame mean joint acceleration (mm/frame^2) in the world."""
    joints = motion.joints()
    return float(np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).mean(axis=1).max()) * 1000


def y_up_to_z_up(motion):
    return rotate_world(motion, np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]))  # +Y -> +Z


@pytest.fixture(scope="module")
def smplh_clip(tmp_path_factory):
    """A clean 120 fps AMASS SMPL-H file (Z up, moving fingers), read back."""
    walk = y_up_to_z_up(walking_motion(480, fps=120.0, seed=3))
    rng = np.random.default_rng(0)
    t = np.arange(walk.num_frames)[:, None] / 120.0
    fingers = np.zeros((walk.num_frames, 30, 3))
    fingers[..., 0] = 0.3 + 0.2 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6, 30))  # curling and opening
    quats = np.concatenate([walk.rotations[:, :22], Rotation.from_rotvec(fingers.reshape(-1, 3)).as_quat().reshape(-1, 30, 4)], 1)
    sample = make_smplh_npz(tmp_path_factory.mktemp("smplh"), quats=quats, trans=walk.trans, fps=120.0)
    return read_motion(sample.path)


@pytest.mark.parametrize("name", LEARNED)
def test_clean_120fps_smplh_passes_through(name, smplh_clip):
    assert smplh_clip.fps == 120.0 and smplh_clip.meta.get("up_axis") == "Z"
    out = refine(smplh_clip, name, device="cpu")
    assert body_mm(out, smplh_clip) <= 3.0
    hands = quat_angle_between(out.rotations[:, 22:], smplh_clip.rotations[:, 22:])
    assert np.degrees(hands.max()) <= 1.0
    assert np.array_equal(out.meta["extras"]["pose_hand"], smplh_clip.meta["extras"]["pose_hand"])


@pytest.mark.parametrize("name", LEARNED)
def test_a_120fps_file_is_refined_as_its_30fps_version(name):
    """Frames 0, 4, 8, .. of a noisy 120 fps walk refine exactly as the 30 fps file of those frames."""
    noisy, _ = noise.corrupt(walking_motion(480, fps=120.0, seed=4), "vibe_like", 2)
    fast = refine(noisy, name, device="cpu")
    slow = refine(noisy.slice(0, 480).replace(rotations=noisy.rotations[::4], trans=noisy.trans[::4], fps=30.0),
                  name, device="cpu")
    assert phase_count(120.0) == 4
    assert np.degrees(quat_angle_between(fast.rotations[::4], slow.rotations).max()) < 1e-3


def _phalp_walk(tmp_path, depth_jitter_m: float, seed: int = 5):
    """A PHALP track of a walk seen by a camera 6 m away, with per-frame depth jitter."""
    walk, _ = noise.corrupt(walking_motion(300, seed=seed), "mild", 3)
    cam_from_world = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # camera: y down, z forward
    seen = rotate_world(walk, cam_from_world)
    depth = np.random.default_rng(seed).normal(0, depth_jitter_m, walk.num_frames)
    cams = seen.trans + np.array([0.0, 0.0, 6.0]) + depth[:, None] * np.array([0.0, 0.0, 1.0])
    return read_motion(make_phalp_pkl(tmp_path, quats=seen.rotations, cams=cams).path)


@pytest.mark.parametrize("name", LEARNED)
def test_phalp_depth_jitter_moves_neither_pose_nor_peak(name, tmp_path):
    """Metres of camera-space depth jitter (4D-Humans/PHALP): the refined pose is
    the one refined without the jitter, and no frame gets jerkier than the input's worst."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    jittered = _phalp_walk(tmp_path / "a", 0.5)
    steady = _phalp_walk(tmp_path / "b", 0.0)
    assert jittered.meta.get("up_axis") == "-Y"
    out = refine(jittered, name, device="cpu")
    assert body_mm(out, refine(steady, name, device="cpu")) < 2.0
    assert peak_accel(out) <= peak_accel(jittered)
    # and the root's own jitter is taken out (the guard's root gate opens on it)
    assert root_accel_error(out.joints(), steady.joints()) < 0.1 * root_accel_error(jittered.joints(), steady.joints())


@pytest.mark.parametrize("name", LEARNED)
def test_wham_world_track_gets_no_worse(name, tmp_path):
    """A WHAM world-frame track (millimetres of root jitter, modern-level pose noise):
    no further from the clean motion than the input, and no jerkier at its worst."""
    clean = walking_motion(300, seed=6)
    noisy, _ = noise.corrupt(clean, "modern", 4)
    track = read_motion(make_wham_pkl(tmp_path, quats=noisy.rotations, trans=noisy.trans).path)
    out = refine(track, name, device="cpu")
    assert body_mm(out, clean) <= body_mm(track, clean) + 0.5
    assert peak_accel(out) <= peak_accel(track)


@pytest.mark.parametrize("name", LEARNED)
@pytest.mark.parametrize("pose", ["walk frame", "zeros"])
def test_a_held_pose_stays_held(name, pose):
    """A clean pose held for 300 frames turns no joint by more than a degree."""
    still = walking_motion(300, seed=7)
    rotations = still.rotations[:1].repeat(300, 0) if pose == "walk frame" else np.tile([0, 0, 0, 1.0], (300, 24, 1))
    held = still.replace(rotations=rotations, trans=np.repeat(still.trans[:1], 300, 0))
    out = refine(held, name, device="cpu")
    assert np.degrees(quat_angle_between(out.rotations, held.rotations).max()) <= 1.0


def test_robust_root_passes_a_walk_and_bounds_depth_jitter():
    walk = walking_motion(300, seed=8)
    assert np.abs(robust_root(walk.trans, 1.6) - walk.trans).max() < 1e-3
    jitter = walk.trans + np.random.default_rng(0).normal(0, 1.0, (300, 1)) * [0, 0, 1]
    seen = robust_root(jitter, 1.6)
    assert np.abs(np.diff(seen[:, 2])).max() < 0.5 and np.abs(np.diff(jitter[:, 2])).max() > 2.0
