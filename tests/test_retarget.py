"""Retargeting the more_bvh rigs to SMPL-24, the split by performer, and the
data modules' split from data.py (the CMU clips unchanged)."""
import gzip

import numpy as np
import pytest

from refine_core.errors import BadInputError
from refine_core.skeleton import JOINT_NAMES
from refine_core.train import data, dataset, retarget
from refine_core.train.bvh import read_bvh
from refine_core.train.floor import contact_stats

CMU = data.data_root()
MORE = data.more_root()
needs_cmu = pytest.mark.skipif(not CMU.is_dir(), reason=f"CMU BVH data not found at {CMU} (set {data.DATA_ENV})")
needs_more = pytest.mark.skipif(not (MORE / "MANIFEST.tsv").is_file(),
                                reason=f"more_bvh data not found at {MORE} (set {data.MORE_ENV})")
J = {n: i for i, n in enumerate(JOINT_NAMES)}

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Hand
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 1
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0083333
1 2 3 0 0 0 0 0 0
0 0 0 0 0 0 90 0 0
"""


def test_gzip_bvh_reads_as_plain_and_keeps_end_sites(tmp_path):
    plain, packed = tmp_path / "a.bvh", tmp_path / "a.bvh.gz"
    plain.write_text(TINY)
    with gzip.open(packed, "wt") as f:
        f.write(TINY)
    a, b = read_bvh(plain), read_bvh(packed)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.names == b.names == ["Hips", "Hand"]
    np.testing.assert_array_equal(b.end_sites[1], [0, 5, 1])  # the End Site belongs to Hand
    assert 0 not in b.end_sites
    assert retarget.snap_fps(1 / b.frame_time) == 120.0 and retarget.snap_fps(1 / 0.008342) == 120.0
    assert retarget.snap_fps(47.0) == 47.0


def test_unit_detection_from_leg_length():
    assert retarget.detect_unit(85.0)[0] == "cm"
    assert retarget.detect_unit(0.9)[0] == "m"
    assert retarget.detect_unit(14.2)[0] == "cmu_asf"  # cgspeed: hip-knee-ankle 14.2 units
    assert retarget.detect_unit(33.0)[0] == "inch"


def test_unknown_skeleton_is_named(tmp_path):
    path = tmp_path / "a.bvh"
    path.write_text(TINY)
    with pytest.raises(BadInputError, match="unknown skeleton"):
        retarget.detect_rig(read_bvh(path), path)


@needs_cmu
def test_cmu_clips_are_unchanged_by_the_module_split():
    """Fingerprints of two clips retargeted by data.py before it was split
    into bvh/retarget/floor/dataset (commit 129ec43): sum |q|, sum trans,
    frame-weighted sums of q_x and trans. The arrays were also compared
    with np.array_equal on five clips at 60 and 30 fps: identical."""
    recorded = {
        "007/007_03.bvh": [3208.7885093521672, 152.45921951742895, 3106.7432640451634, 10773.72917240756],
        "002/002_01.bvh": [2647.9133562814955, 211.8528344522839, 869.7949943650356, 10845.469527183239],
    }
    for rel, want in recorded.items():
        m = data.load_bvh(CMU / rel, 30)
        t = np.arange(m.num_frames)[:, None]
        got = [np.abs(m.rotations).sum(), m.trans.sum(), (m.rotations[..., 0] * t).sum(), (m.trans * t).sum()]
        np.testing.assert_allclose(got, want, rtol=1e-12)


@needs_more
def test_split_is_by_performer_and_covers_every_rig():
    clips = data.more_clips(split="all")
    sides = {}
    for c in clips:
        sides.setdefault(c.performer, set()).add(c.split)
    assert all(len(s) == 1 for s in sides.values()), "a performer on two sides"
    test = [c for c in clips if c.split == "test"]
    assert {c.rig for c in test} == {"cgspeed", "daz", "accad", "fair"}
    assert {c.split for c in clips if c.performer == "CMU 135"} == {"test"}  # both conversions of one performer
    assert dataset.performer_split("CMU 001") == dataset.performer_split("CMU 007") == "val"
    assert len(clips) == 384 - len(dataset.SKIPPED)
    with pytest.raises(ValueError):
        data.more_clips(split="training")


def _walks_forward(m):
    j = m.joints()
    left = j[:, J["left_hip"]] - j[:, J["right_hip"]]
    forward = np.cross(left, [0.0, 1.0, 0.0])
    vel = np.gradient(j[:, 0], axis=0)
    vel[:, 1] = 0
    moving = np.linalg.norm(vel, axis=1) > 0.005
    cos = np.sum(forward * vel, 1) / np.linalg.norm(forward, axis=1) / (np.linalg.norm(vel, axis=1) + 1e-12)
    return float(np.median(cos[moving]))


WALKS = {
    "cgspeed": "cmu_008_01__motion-viewer.bvh.gz",
    "daz": "cmu_143_04__zzn-nzz_daz.bvh.gz",
    "accad": "accad_Male1_B3_Walk.bvh.gz",
    "fair": "fair1_zombie__animateddrawings.bvh.gz",
}


@needs_more
@pytest.mark.parametrize("rig", sorted(WALKS))
def test_each_rig_is_upright_left_is_left_and_feet_on_the_floor(rig):
    """A walk or run of each rig at 30 fps: head above the pelvis, the body
    moves the way it faces (a left/right or front/back mix-up would make it
    walk backwards), the knees bend forwards, and in contact the lowest foot
    joint is within 1.5 cm of y = 0."""
    clip = next(c for c in data.more_clips() if c.path.name == WALKS[rig])
    m = data.load_more_bvh(clip, 30)
    j = m.joints()
    assert m.fps == 30.0 and m.meta["rig"] == rig
    assert np.all(j[:, J["head"], 1] - j[:, 0, 1] > 0.35)
    assert _walks_forward(m) > 0.8
    left = j[:, J["left_hip"]] - j[:, J["right_hip"]]
    thigh, shank = j[:, J["left_knee"]] - j[:, J["left_hip"]], j[:, J["left_ankle"]] - j[:, J["left_knee"]]
    bend = np.degrees(np.arccos(np.sum(thigh * shank, 1) / np.linalg.norm(thigh, axis=1) / np.linalg.norm(shank, axis=1)))
    assert (np.sum(np.cross(thigh, shank) * left, 1) > 0)[bend > 20].mean() > 0.9  # the shank swings back
    stats = contact_stats(m)
    assert abs(stats["contact_median"]) < 0.015 and stats["contact_fraction"] > 0.2


@needs_more
def test_tpose_frame_dropped_and_salsa_at_sixty():
    clips = {c.path.name: c for c in data.more_clips()}
    salsa = clips["cmu_060_01__acrnn_daz.bvh.gz"]
    m = data.load_more_bvh(salsa)
    assert m.fps == 60.0  # header says 120
    assert m.num_frames == len(read_bvh(salsa.path).frames) - 1  # the synthetic T-pose frame is gone
    fair = clips["fair1_dab__animateddrawings.bvh.gz"]
    assert data.load_more_bvh(fair).num_frames == len(read_bvh(fair.path).frames)  # no T-pose frame: all kept


@needs_more
def test_load_clips_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    first = data.load_clips("test", sources=("more",), rigs=("fair",))
    assert len(list(tmp_path.glob("more_test_30fps_*.npz"))) == 1
    again = data.load_clips("test", sources=("more",), rigs=("fair",))
    assert len(first) == len(again) == 4
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.rotations, b.rotations)
        np.testing.assert_array_equal(a.trans, b.trans)
        assert a.meta["performer"] == b.meta["performer"] == "FAIR actor 1 (Meta)" and b.meta["split"] == "test"
    with pytest.raises(ValueError):
        data.load_clips("all")
