"""A small synthetic SMPL-format model, built at test time.

Real SMPL files are licensed and never loaded unless present. This one has
SMPL's structure and key names (6890 vertices, so smplx's extra-joint vertex
ids are valid): a capsule body of 8-sided rings along each bone of the
neutral rest skeleton, a J_regressor that averages the ring at each joint (so
it returns the rest joints exactly), and betas[0] scaling the whole body.
"""
from pathlib import Path

import numpy as np

from refine_core.skeleton import NEUTRAL_REST_JOINTS, PARENTS

NUM_VERTICES = 6890
SIDES = 8
RINGS = 37  # 23 bones * 37 rings * 8 sides = 6808 vertices; the rest pad the pelvis


def _ring(center, axis, radius):
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    ang = 2 * np.pi * np.arange(SIDES) / SIDES
    return center + radius * (np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * v)


def synthetic_smpl_arrays(rest_joints=NEUTRAL_REST_JOINTS) -> dict:
    """SMPL model arrays (key names as in the official files)."""
    verts, weights, faces = [], [], []
    ring_start = {}  # joint -> index of a ring centred on it
    for child in range(1, 24):
        parent = PARENTS[child]
        a, b = rest_joints[parent], rest_joints[child]
        first = sum(len(v) for v in verts)
        for k in range(RINGS):
            s = k / (RINGS - 1)
            verts.append(_ring(a + s * (b - a), b - a, 0.04))
            w = np.zeros((SIDES, 24))
            blend = max(0.0, (s - 0.8) / 0.2) * 0.5  # soften near the child joint
            w[:, parent] = 1 - blend
            w[:, child] += blend
            weights.append(w)
        ring_start.setdefault(parent, first)
        ring_start[child] = first + (RINGS - 1) * SIDES  # last ring sits on the child
        for k in range(RINGS - 1):
            for i in range(SIDES):
                v00 = first + k * SIDES + i
                v01 = first + k * SIDES + (i + 1) % SIDES
                faces += [(v00, v01, v00 + SIDES), (v01, v01 + SIDES, v00 + SIDES)]
    vertices = np.concatenate(verts)
    lbs = np.concatenate(weights)
    pad = NUM_VERTICES - len(vertices)
    vertices = np.concatenate([vertices, np.repeat(rest_joints[:1], pad, axis=0)])
    lbs = np.concatenate([lbs, np.tile(np.eye(24)[:1], (pad, 1))])
    j_regressor = np.zeros((24, NUM_VERTICES))
    for joint, start in ring_start.items():
        j_regressor[joint, start:start + SIDES] = 1.0 / SIDES
    shapedirs = np.zeros((NUM_VERTICES, 3, 10))
    shapedirs[:, :, 0] = 0.05 * vertices  # beta 0: 5% taller/wider per unit
    rng = np.random.default_rng(0)
    shapedirs[:, :, 1:] = 0.002 * rng.standard_normal((NUM_VERTICES, 3, 9))
    kintree = np.stack([np.where(PARENTS < 0, 4294967295, PARENTS), np.arange(24)]).astype(np.int64)
    return {
        "v_template": vertices, "f": np.asarray(faces, dtype=np.int64), "J_regressor": j_regressor,
        "weights": lbs, "shapedirs": shapedirs, "posedirs": np.zeros((NUM_VERTICES, 3, 207)),
        "kintree_table": kintree,
    }


def write_synthetic_smpl_model(path) -> Path:
    """Write the synthetic model as a SMPL-format ``.npz`` and return its path."""
    path = Path(path)
    np.savez(path, **synthetic_smpl_arrays())
    return path
