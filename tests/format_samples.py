"""One small, realistic file per input format, built at test time.

Each ``make_*(folder, frames=40, seed=0)`` writes a file with the key names,
nesting, dtypes and writer (np.savez, joblib.dump, torch.save) the real tool
uses, from random valid rotations, and returns a ``Sample``: the path and
what ``read_motion`` must give for its default track. Sources of each
structure are in docs/formats.md. Reused by the format, reliability and
Blender tests: ``build_all(folder)`` makes one of each.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from refine_core.rotations import IDENTITY_QUAT, matrix_to_rot6d
from refine_core.skeleton import NEUTRAL_REST_JOINTS

SMPL_VERTICES = 6890


@dataclass
class Sample:
    """A written sample file and the Motion-level values expected from it.

    rotations (T, 24, 4) xyzw, trans (T, 3), betas (10,) or None; ``tol``
    is the rotation tolerance (radians) the file's dtype allows; ``tracks``
    maps track id -> frames ({} for single-motion files); ``track`` is the
    default (longest) track.
    """

    path: Path
    format: str
    rotations: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray | None = None
    gender: str | None = None
    extra_keys: set = field(default_factory=set)
    fps_assumed: bool = False
    track: Any = None
    tracks: dict = field(default_factory=dict)
    keypoints_2d: np.ndarray | None = None
    up_axis: str | None = None
    tol: float = 1e-6


def random_quats(frames, joints=24, seed=0):
    """(frames, joints, 4) random unit quaternions xyzw (w >= 0)."""
    q = Rotation.random(frames * joints, random_state=seed).as_quat().reshape(frames, joints, 4)
    return q * np.sign(q[..., 3:4] + 1e-12)


def _aa(quats):
    return Rotation.from_quat(quats.reshape(-1, 4)).as_rotvec().reshape(quats.shape[:-1] + (3,))


def _mats(quats):
    return Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(quats.shape[:-1] + (3, 3))


def _identity_hands(quats):
    out = quats.copy()
    out[:, 22:24] = IDENTITY_QUAT
    return out


def _rng(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ npz
def make_amass_npz(folder, frames=40, seed=0):
    """SMPL poses (T, 72) AMASS-style, with dmpls as an extra key."""
    rng = _rng(seed)
    q = random_quats(frames, seed=seed)
    trans, betas = rng.normal(size=(frames, 3)), rng.normal(size=10)
    path = Path(folder) / "smpl_amass.npz"
    np.savez(path, poses=_aa(q).reshape(frames, 72), trans=trans, betas=betas,
             mocap_framerate=np.float64(120.0), gender=np.array("female"), dmpls=rng.normal(size=(frames, 8)))
    return Sample(path, "amass_npz", q, trans, 120.0, betas, "female", {"dmpls"}, up_axis="Z")


def make_fps_npz(folder, frames=40, seed=1):
    """(T, 72) poses with the frame rate under ``fps`` and no gender."""
    rng = _rng(seed)
    q = random_quats(frames, seed=seed)
    trans = rng.normal(size=(frames, 3))
    path = Path(folder) / "fps_variant.npz"
    np.savez(path, poses=_aa(q).reshape(frames, 72).astype(np.float32), trans=trans, fps=np.array(25))
    return Sample(path, "amass_npz", q, trans, 25.0, None, tol=1e-5)


def make_smplh_npz(folder, frames=40, seed=2, quats=None, trans=None, fps=60.0):
    """AMASS SMPL-H: poses (T, 156), betas (16,), gender, mocap_framerate, dmpls.
    ``quats`` (T, 52, 4) and ``trans`` (T, 3) replace the random motion."""
    rng = _rng(seed)
    q = random_quats(frames, 52, seed=seed) if quats is None else quats
    frames = len(q)
    trans, betas = rng.normal(size=(frames, 3)) if trans is None else trans, rng.normal(size=16)
    path = Path(folder) / "amass_smplh.npz"
    np.savez(path, poses=_aa(q).reshape(frames, 156), trans=trans, betas=betas, gender=np.array("male"),
             mocap_framerate=np.float64(fps), dmpls=rng.normal(size=(frames, 8)))
    expected = _identity_hands(np.concatenate([q[:, :22], q[:, :2]], axis=1))
    return Sample(path, "smplh_npz", expected, trans, fps, betas[:10], "male", {"dmpls", "pose_hand"}, up_axis="Z")


def make_smplx_npz(folder, frames=40, seed=3):
    """AMASS SMPL-X (SMPL-X G): poses (T, 165) plus the split keys, mocap_frame_rate,
    and an object array (markers_latent_vids is a dict in the real files)."""
    rng = _rng(seed)
    q = random_quats(frames, 55, seed=seed)
    aa = _aa(q).reshape(frames, 165)
    trans, betas = rng.normal(size=(frames, 3)), rng.normal(size=16)
    path = Path(folder) / "amass_smplx.npz"
    np.savez(path, poses=aa, trans=trans, betas=betas, gender=np.array("neutral"),
             mocap_frame_rate=np.array(30.0), mocap_time_length=np.array(frames / 30.0),
             surface_model_type=np.array("smplx"), num_betas=np.array(16),
             root_orient=aa[:, :3], pose_body=aa[:, 3:66], pose_jaw=aa[:, 66:69], pose_eye=aa[:, 69:75],
             pose_hand=aa[:, 75:], markers_latent_vids=np.array({"C7": 3832, "CLAV": 5533}, dtype=object))
    expected = _identity_hands(np.concatenate([q[:, :22], q[:, :2]], axis=1))
    extras = {"mocap_time_length", "surface_model_type", "num_betas", "pose_jaw", "pose_eye", "pose_hand", "markers_latent_vids"}
    return Sample(path, "smplx_npz", expected, trans, 30.0, betas[:10], "neutral", extras, up_axis="Z")


def make_split_npz(folder, frames=40, seed=4):
    """root_orient / pose_body (T, 63) / trans, as AMASS-processed data; no fps."""
    rng = _rng(seed)
    q = random_quats(frames, 22, seed=seed)
    aa = _aa(q)
    trans, betas = rng.normal(size=(frames, 3)), rng.normal(size=10)
    path = Path(folder) / "split_keys.npz"
    np.savez(path, root_orient=aa[:, 0], pose_body=aa[:, 1:].reshape(frames, 63), trans=trans,
             betas=betas, gender=np.array("female"), pose_hand=np.zeros((frames, 90)))
    expected = _identity_hands(np.concatenate([q, q[:, :2]], axis=1))
    return Sample(path, "split_npz", expected, trans, 30.0, betas, "female", {"pose_hand"}, fps_assumed=True)


def make_array(folder, kind, frames=40, seed=5):
    """A plain array: kind in "aa72", "aa243", "mat", "quat", "6d" (.npy) or "npz"."""
    q = random_quats(frames, seed=seed)
    data = {"aa72": _aa(q).reshape(frames, 72), "aa243": _aa(q), "mat": _mats(q), "quat": q,
            "6d": matrix_to_rot6d(_mats(q)).reshape(frames, 144), "npz": _aa(q).reshape(frames, 72)}[kind]
    path = Path(folder) / f"array_{kind}.{'npz' if kind == 'npz' else 'npy'}"
    if kind == "npz":
        np.savez(path, data.astype(np.float32))  # key "arr_0", as np.savez names it
    else:
        np.save(path, data.astype(np.float32))
    fmt = "array_npz" if kind == "npz" else "array_npy"
    return Sample(path, fmt, q, np.zeros((frames, 3)), 30.0, fps_assumed=True, tol=1e-5)


# ----------------------------------------------------- joblib tracker output
def _vibe_track(q, seed, frames_offset):
    """One VIBE track (demo.py, pose tracking): float32 arrays, keys as VIBE writes them."""
    rng, t = _rng(seed), len(q)
    return {
        "pred_cam": rng.normal(size=(t, 3)).astype(np.float32),
        "orig_cam": rng.normal(size=(t, 4)).astype(np.float32),
        "verts": rng.normal(size=(t, SMPL_VERTICES, 3)).astype(np.float32),
        "pose": _aa(q).reshape(t, 72).astype(np.float32),
        "betas": rng.normal(size=(t, 10)).astype(np.float32),
        "joints3d": rng.normal(size=(t, 49, 3)).astype(np.float32),
        "joints2d": rng.uniform(0, 1, size=(t, 25, 3)),   # the tracker's OpenPose keypoints
        "joints2d_img_coord": rng.uniform(0, 640, size=(t, 49, 2)).astype(np.float32),
        "bboxes": rng.uniform(50, 300, size=(t, 4)).astype(np.float32),
        "frame_ids": np.arange(frames_offset, frames_offset + t),
    }


def make_vibe_pkl(folder, frames=40, seed=6):
    """VIBE/TCMR vibe_output.pkl: {person id: track}; track 1 (frames) is the longest."""
    q1, q3 = random_quats(frames, seed=seed), random_quats(frames - 15, seed=seed + 1)
    tracks = {1: _vibe_track(q1, seed, 0), 3: _vibe_track(q3, seed + 1, 10)}
    path = Path(folder) / "vibe_output.pkl"
    import joblib

    joblib.dump(tracks, path)
    t1 = tracks[1]
    extras = set(t1) - {"pose", "betas"}
    return Sample(path, "vibe_pkl", q1, np.zeros((frames, 3)), 30.0, t1["betas"].mean(0), None, extras,
                  fps_assumed=True, track=1, tracks={1: frames, 3: frames - 15},
                  keypoints_2d=t1["joints2d"], up_axis="-Y", tol=1e-5)


def make_wham_pkl(folder, frames=40, seed=8, quats=None, trans=None):
    """WHAM wham_output.pkl: defaultdict(dict) {subject id: results}, world and camera frame.
    ``quats`` (T, 24, 4) and ``trans`` (T, 3) replace subject 1's random world motion."""
    import joblib

    results, expected = defaultdict(dict), {}
    frames = frames if quats is None else len(quats)
    for sid, t in ((0, frames - 10), (1, frames)):
        rng, q = _rng(seed + sid), random_quats(t, seed=seed + sid) if sid == 0 or quats is None else quats
        q_cam = q.copy()
        q_cam[:, 0] = random_quats(t, 1, seed=seed + 10 + sid)[:, 0]  # camera-frame root differs
        results[sid]["pose"] = _aa(q_cam).reshape(t, 72).astype(np.float32)
        results[sid]["trans"] = rng.normal(size=(t, 3)).astype(np.float32)
        results[sid]["pose_world"] = _aa(q).reshape(t, 72).astype(np.float32)
        world = rng.normal(size=(t, 3)) if sid == 0 or trans is None else trans
        results[sid]["trans_world"] = np.asarray(world, dtype=np.float32)
        results[sid]["betas"] = rng.normal(size=(t, 10)).astype(np.float32)
        results[sid]["verts"] = rng.normal(size=(t, SMPL_VERTICES, 3)).astype(np.float32)
        results[sid]["frame_ids"] = np.arange(t)
        expected[sid] = q
    path = Path(folder) / "wham_output.pkl"
    joblib.dump(results, path)
    r = results[1]
    return Sample(path, "wham_pkl", expected[1], r["trans_world"], 30.0, r["betas"].mean(0), None,
                  {"pose_cam", "trans_cam", "verts", "frame_ids"}, fps_assumed=True, track=1,
                  tracks={0: frames - 10, 1: frames}, up_axis="Y", tol=1e-5)


def make_phalp_pkl(folder, frames=40, seed=10, quats=None, cams=None):
    """4D-Humans/PHALP results pkl (joblib, compress=3): {frame path: frame dict}.

    Track 2 is detected on every frame except frame 5 (kept by the tracker
    as a prediction: in 'tid' with its last values, not in 'tracked_ids');
    track 7 appears from frame 20 on. ``quats`` (T, 24, 4) and ``cams`` (T, 3,
    camera-space translation) replace track 2's random motion.
    """
    import joblib

    rng = _rng(seed)
    frames = frames if quats is None else len(quats)
    q = {2: random_quats(frames, seed=seed) if quats is None else quats, 7: random_quats(frames, seed=seed + 1)}
    cam = {tid: rng.normal(size=(frames, 3)).astype(np.float32) for tid in q}
    if cams is not None:
        cam[2] = np.asarray(cams, dtype=np.float32)
    kp = {tid: rng.uniform(0, 1, size=(frames, 90)).astype(np.float32) for tid in q}
    betas = {tid: rng.normal(size=(frames, 10)).astype(np.float32) for tid in q}
    data, held = {}, {}
    for t in range(frames):
        name = f"outputs/_DEMO/video/img/{t + 1:06d}.jpg"
        frame = {"time": t, "shot": 0, "frame_path": name}
        for key in ("tracked_ids", "tracked_bbox", "tid", "bbox", "tracked_time", "center", "scale", "size",
                    "img_path", "img_name", "class_name", "conf", "annotations", "smpl", "camera",
                    "camera_bbox", "3d_joints", "2d_joints", "mask"):
            frame[key] = []
        for tid in (2, 7):
            if tid == 7 and t < 20:
                continue
            detected = not (tid == 2 and t == 5)
            src = t if detected else held[tid]
            held[tid] = src
            mats = _mats(q[tid][src]).astype(np.float32)
            bbox = rng.uniform(0, 300, size=4).astype(np.float32)
            frame["tid"].append(tid)
            frame["bbox"].append(bbox)
            frame["tracked_time"].append(0 if detected else 1)
            if detected:
                frame["tracked_ids"].append(tid)
                frame["tracked_bbox"].append(bbox)
            frame["center"].append(rng.uniform(0, 300, size=2))
            frame["scale"].append(rng.uniform(50, 300, size=2))
            frame["size"].append([480, 640])
            frame["img_path"].append(name)
            frame["img_name"].append(name.split("/")[-1])
            frame["class_name"].append(np.int64(0))
            frame["conf"].append(np.float32(0.9))
            frame["annotations"].append([])
            frame["smpl"].append({"global_orient": mats[:1], "body_pose": mats[1:], "betas": betas[tid][src]})
            frame["camera"].append(cam[tid][src])
            frame["camera_bbox"].append(rng.normal(size=3).astype(np.float32))
            frame["3d_joints"].append(rng.normal(size=(45, 3)).astype(np.float32))
            frame["2d_joints"].append(kp[tid][src])
            frame["mask"].append([{"size": [480, 640], "counts": "PQ`0a1O00001O"}])
        data[name] = frame
    path = Path(folder) / "demo_video.pkl"
    joblib.dump(data, path, compress=3)
    held_q = q[2].copy()
    held_q[5] = q[2][4]
    held_cam, held_kp = cam[2].copy(), kp[2].copy()
    held_cam[5], held_kp[5] = cam[2][4], kp[2][4]
    keypoints = np.concatenate([held_kp.reshape(frames, 45, 2), np.ones((frames, 45, 1))], axis=2)
    keypoints[5, :, 2] = 0.0
    b = betas[2].copy()
    b[5] = betas[2][4]
    extras = {"bbox", "tracked_time", "center", "scale", "size", "img_path", "img_name", "class_name", "conf",
              "annotations", "camera_bbox", "3d_joints", "2d_joints", "frame_ids", "frame_names", "observed"}
    return Sample(path, "phalp_pkl", held_q, held_cam, 30.0, b.mean(0), None, extras, fps_assumed=True,
                  track=2, tracks={2: frames, 7: frames - 20}, keypoints_2d=keypoints, up_axis="-Y", tol=1e-5)


# ------------------------------------------------------------------- GVHMR
def make_gvhmr_pt(folder, frames=40, seed=12):
    """GVHMR hmr4d_results.pt: torch.save of tensors, SMPL-X body (21 joints)."""
    import torch

    rng = _rng(seed)
    q = random_quats(frames, 22, seed=seed)
    aa = _aa(q).astype(np.float32)

    def params(root, transl):
        return {"body_pose": torch.from_numpy(aa[:, 1:].reshape(frames, 63).copy()),
                "betas": torch.from_numpy(betas), "global_orient": torch.from_numpy(root),
                "transl": torch.from_numpy(transl)}

    betas = rng.normal(size=(frames, 10)).astype(np.float32)
    transl = rng.normal(size=(frames, 3)).astype(np.float32)
    pred = {
        "smpl_params_global": params(aa[:, 0].copy(), transl),
        "smpl_params_incam": params(rng.normal(size=(frames, 3)).astype(np.float32), transl + 2),
        "K_fullimg": torch.eye(3).repeat(frames, 1, 1),
        "net_outputs": {"static_conf_logits": torch.zeros(1, frames, 6)},
    }
    path = Path(folder) / "hmr4d_results.pt"
    torch.save(pred, path)
    expected = _identity_hands(np.concatenate([q, q[:, :2]], axis=1))
    extras = {f"smpl_params_incam.{k}" for k in ("body_pose", "betas", "global_orient", "transl")}
    extras |= {"K_fullimg", "net_outputs.static_conf_logits"}
    return Sample(path, "gvhmr_pt", expected, transl, 30.0, betas.mean(0), None, extras,
                  fps_assumed=True, up_axis="Y", tol=1e-5)


# -------------------------------------------- AIST++ / EDGE / GLAMR / ...
def make_aistpp_pkl(folder, frames=40, seed=14):
    """An AIST++ motion (aistplusplus_api processing/run_estimate_smpl.py):
    pickle.dump(HIGHEST_PROTOCOL) of float32 smpl_poses (T, 72), smpl_scaling
    (1,), smpl_trans (T, 3) in centimetres, smpl_loss (a float)."""
    import pickle

    rng = _rng(seed)
    q = random_quats(frames, seed=seed)
    scaling = np.array([93.7], dtype=np.float32)
    trans_cm = (rng.normal(size=(frames, 3)) * 50 + [0, 90, 0]).astype(np.float32)
    path = Path(folder) / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": _aa(q).reshape(frames, 72).astype(np.float32), "smpl_scaling": scaling,
                     "smpl_trans": trans_cm, "smpl_loss": 1.234}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return Sample(path, "aistpp_pkl", q, trans_cm.astype(np.float64) / np.float64(scaling[0]), 60.0, None, None,
                  {"smpl_scaling", "smpl_loss"}, fps_assumed=True, up_axis="Y", tol=1e-5)


def make_edge_pkl(folder, frames=40, seed=15):
    """An EDGE output (EDGE model/diffusion.py render_sample): pickle.dump of
    smpl_poses (T, 72), smpl_trans (T, 3) in metres, full_pose (T, 24, 3) joint positions."""
    import pickle

    rng = _rng(seed)
    q = random_quats(frames, seed=seed)
    trans = rng.normal(size=(frames, 3)).astype(np.float32)
    path = Path(folder) / "test_gBR_sBM_cAll_d04_mBR0_ch02_slice0.pkl"
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": _aa(q).reshape(frames, 72).astype(np.float32), "smpl_trans": trans,
                     "full_pose": rng.normal(size=(frames, 24, 3)).astype(np.float32)}, f)
    return Sample(path, "aistpp_pkl", q, trans, 30.0, None, None, {"full_pose"}, fps_assumed=True, up_axis="Z", tol=1e-5)


def _glamr_person(q, rng, frames):
    t = len(q)
    aa = _aa(q).astype(np.float32)
    visible = np.ones(frames, dtype=np.float32)
    return {  # global_recon_model.py init_data + forward, after tensor_to_numpy
        "visible": visible, "visible_orig": visible.copy(), "fr_start": np.int64(0), "fr_end": np.int64(t),
        "exist_frames": np.ones(t, bool), "exist_len": np.int64(t), "max_len": t, "frames": np.arange(t),
        "vis_frames": np.ones(t, bool), "invis_frames": np.zeros(t, bool), "frame2ind": {i: i for i in range(t)},
        "scale": None, "smpl_pose": aa[:, 1:].reshape(t, 69), "smpl_beta": rng.normal(size=(t, 10)).astype(np.float32),
        "smpl_orient_cam": rng.normal(size=(t, 3)).astype(np.float32),
        "root_trans_cam": rng.normal(size=(t, 3)).astype(np.float32),
        "kp_2d": rng.uniform(0, 640, size=(t, 26, 2)), "kp_2d_score": rng.uniform(size=(t, 26)),
        "cam_K": np.tile(np.eye(3, dtype=np.float32), (t, 1, 1)),
        "root_trans_world": rng.normal(size=(t, 3)).astype(np.float32), "smpl_orient_world": aa[:, 0].copy(),
        "person_transform_world": np.tile(np.eye(4, dtype=np.float32), (t, 1, 1)),
        "smpl_orient_world_res": np.zeros((t, 3), np.float32), "root_trans_world_res": np.zeros((t, 3), np.float32),
    }


def make_glamr_pkl(folder, frames=40, seed=16):
    """GLAMR global_recon/run_demo.py: pickle.dump(out_dict) of
    GlobalReconOptimizer.optimize (tensor_to_numpy of its data dict):
    person_data {0: ..., 1: ...}, cam_pose, meta, rel_transform_cam..."""
    import pickle

    rng = _rng(seed)
    q = {0: random_quats(frames - 10, seed=seed), 1: random_quats(frames, seed=seed + 1)}
    people = {pid: _glamr_person(q[pid], rng, frames) for pid in q}
    cam = np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1))
    out = {"seq_name": "basketball", "person_data": people, "seq_len": frames, "fr_num_persons": np.full(frames, 2.0),
           "cam_pose": cam, "cam_pose_inv": cam.copy(), "cam_inv_rot_residual": np.zeros((0, 6), np.float32),
           "cam_inv_trans_residual": np.zeros((frames, 3), np.float32),
           "rel_transform_cam": {(0, 1): cam.copy(), (1, 0): cam.copy()}, "gt": {}, "gt_meta": {},
           "meta": {"algo": "global_recon", "mt_cfg": {"model_specs": {"nz": 128}}, "num_fr": frames}}
    path = Path(folder) / "basketball_seed1.pkl"
    with open(path, "wb") as f:
        pickle.dump(out, f)
    p = people[1]
    extras = {k for k, v in p.items() if not isinstance(v, dict) and v is not None} - {
        "smpl_pose", "smpl_orient_world", "root_trans_world", "smpl_beta"}
    extras |= {"seq_name", "seq_len", "fr_num_persons", "cam_pose", "cam_pose_inv", "cam_inv_rot_residual",
               "cam_inv_trans_residual"}
    trans = p["root_trans_world"].astype(np.float64) - NEUTRAL_REST_JOINTS[0]
    return Sample(path, "glamr_pkl", q[1], trans, 30.0, p["smpl_beta"].mean(0), None, extras, fps_assumed=True,
                  track=1, tracks={0: frames - 10, 1: frames}, up_axis="Z", tol=1e-5)


def make_humandata_npz(folder, frames=40, seed=17):
    """mmhuman3d demo/estimate_smpl.py --multi_person_demo: HumanData.dump, i.e.
    np.savez_compressed of the __key_strict__/__temporal_len__/__keypoints_compressed__
    attributes and smpl {body_pose (N, 23, 3), global_orient (N, 3), betas (N, 10)},
    verts, pred_cams, bboxes_xyxy, image_path, person_id, frame_id; rows are
    (frame, person) pairs, person 3 only in the first 25 frames."""
    rng = _rng(seed)
    q = {3: random_quats(25, seed=seed), 5: random_quats(frames, seed=seed + 1)}
    rows = [(t, pid) for t in range(frames) for pid in (3, 5) if pid == 5 or t < 25]
    index = {3: 0, 5: 0}
    pose, ids, fids = [], [], []
    for t, pid in rows:
        pose.append(_aa(q[pid][index[pid]]))
        index[pid] += 1
        ids.append(pid)
        fids.append(t)
    pose = np.asarray(pose, dtype=np.float32)
    n = len(rows)
    smpl = {"body_pose": pose[:, 1:].reshape(-1, 23, 3), "global_orient": pose[:, :1].reshape(-1, 3),
            "betas": rng.normal(size=(n, 10)).astype(np.float32)}
    path = Path(folder) / "inference_result.npz"
    np.savez_compressed(path, __key_strict__=False, __temporal_len__=-1, __keypoints_compressed__=False, smpl=smpl,
                        verts=rng.normal(size=(n, 30, 3)).astype(np.float32),  # 6890 vertices in the real files
                        pred_cams=rng.normal(size=(n, 3)).astype(np.float32),
                        bboxes_xyxy=rng.uniform(0, 300, size=(n, 5)).astype(np.float32),
                        image_path=[f"images/{t:06d}.png" for t, _ in rows], person_id=ids, frame_id=fids)
    sel = np.asarray(ids) == 5
    extras = {"__key_strict__", "__temporal_len__", "__keypoints_compressed__", "verts", "pred_cams", "bboxes_xyxy",
              "image_path", "person_id", "frame_id"}
    return Sample(path, "humandata_npz", q[5], np.zeros((frames, 3)), 30.0, smpl["betas"][sel].mean(0), None, extras,
                  fps_assumed=True, track=5, tracks={3: 25, 5: frames}, up_axis="-Y", tol=1e-5)


def _romp_frame(q, rng, people):
    """One frame of ROMP's outputs (simple_romp main.py ROMP.forward after
    convert_tensor2numpy), one row per person."""
    aa = _aa(q).reshape(people, 72).astype(np.float32)
    return {"cam": rng.normal(size=(people, 3)).astype(np.float32), "global_orient": aa[:, :3].copy(),
            "body_pose": aa[:, 3:].copy(), "smpl_betas": rng.normal(size=(people, 10)).astype(np.float32),
            "smpl_thetas": aa, "center_preds": rng.uniform(0, 64, size=(people, 2)).astype(np.float32),
            "center_confs": rng.uniform(size=(people, 1)).astype(np.float32),
            "cam_trans": rng.normal(size=(people, 3)).astype(np.float32),
            "verts": rng.normal(size=(people, 30, 3)).astype(np.float32),  # 6890 in the real files
            "joints": rng.normal(size=(people, 71, 3)).astype(np.float32),
            "pj2d_org": rng.uniform(0, 512, size=(people, 71, 2)).astype(np.float32)}


def make_romp_npz(folder, frames=40, seed=18):
    """simple_romp --mode=video -t: romp/utils.py save_video_results,
    np.savez(video_results.npz, results={frame name: frame outputs},
    sequence_results={track id: {frame_id: [...], key: [per-frame rows]}}):
    two 0-d object arrays holding dicts. Track 7 in every frame, track 9 from frame 30."""
    rng = _rng(seed)
    q = {7: random_quats(frames, seed=seed), 9: random_quats(frames - 30, seed=seed + 1)}
    results, sequences = {}, {}
    for t in range(frames):
        tids = [7] + ([9] if t >= 30 else [])
        frame = _romp_frame(np.stack([q[tid][t - (30 if tid == 9 else 0)] for tid in tids]), rng, len(tids))
        frame["track_ids"] = np.array(tids, dtype=np.int32)
        results[f"{t:08d}.jpg"] = frame
        for i, tid in enumerate(frame["track_ids"]):  # save_video_results: np.int32 track ids as keys
            seq = sequences.setdefault(tid, {"frame_id": []})
            seq["frame_id"].append(t)
            for key in frame:
                seq.setdefault(key, []).append(frame[key][i])
    path = Path(folder) / "video_results.npz"
    np.savez(path, results=results, sequence_results=sequences)
    seq = sequences[7]
    extras = set(seq) - {"smpl_thetas", "cam_trans", "smpl_betas"}
    return Sample(path, "romp_npz", q[7], np.stack(seq["cam_trans"]), 30.0, np.stack(seq["smpl_betas"]).mean(0), None,
                  extras, fps_assumed=True, track=7, tracks={7: frames, 9: frames - 30}, up_axis="-Y", tol=1e-5)


def make_pose_shape_npz(folder, frames=40, seed=19):
    """SPIN datasets/preprocess/pw3d.py layout: np.savez(imgname, center, scale,
    pose (N, 72), shape (N, 10), gender): MoSh-style fits, one row per image."""
    rng = _rng(seed)
    q = random_quats(frames, seed=seed)
    shape = np.tile(rng.normal(size=10), (frames, 1))
    path = Path(folder) / "3dpw_test.npz"
    np.savez(path, imgname=[f"imageFiles/downtown/image_{i:05d}.jpg" for i in range(frames)],
             center=rng.uniform(0, 500, size=(frames, 2)), scale=rng.uniform(1, 3, size=frames),
             pose=_aa(q).reshape(frames, 72), shape=shape, gender=["m"] * frames)
    return Sample(path, "pose_shape_npz", q, np.zeros((frames, 3)), 30.0, shape[0], None,
                  {"imgname", "center", "scale", "gender_input"}, fps_assumed=True)  # per-row genders: not one gender


BUILDERS = {
    "amass_npz": make_amass_npz,
    "fps_npz": make_fps_npz,
    "smplh_npz": make_smplh_npz,
    "smplx_npz": make_smplx_npz,
    "split_npz": make_split_npz,
    "vibe_pkl": make_vibe_pkl,
    "wham_pkl": make_wham_pkl,
    "phalp_pkl": make_phalp_pkl,
    "gvhmr_pt": make_gvhmr_pt,
    "aistpp_pkl": make_aistpp_pkl,
    "edge_pkl": make_edge_pkl,
    "glamr_pkl": make_glamr_pkl,
    "humandata_npz": make_humandata_npz,
    "romp_npz": make_romp_npz,
    "pose_shape_npz": make_pose_shape_npz,
    **{f"array_{kind}": (lambda folder, kind=kind: make_array(folder, kind))
       for kind in ("aa72", "aa243", "mat", "quat", "6d", "npz")},
}


def build_all(folder):
    """{name: Sample} with one file of every kind in ``folder``."""
    return {name: build(folder) for name, build in BUILDERS.items()}
