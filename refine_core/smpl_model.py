"""The user's own SMPL model file, loaded through smplx without chumpy.

SMPL ``.pkl`` files from the official site pickle chumpy arrays; chumpy does
not import on current numpy, so pickles go through the project's allow-list
unpickler with chumpy classes mapped to a stub that keeps the array.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadInputError
from .skeleton import NUM_JOINTS, Skeleton

REQUIRED_KEYS = ("v_template", "f", "J_regressor", "weights", "shapedirs", "posedirs", "kintree_table")


class _Struct:
    """Attribute access to the model's arrays, as smplx expects (``data_struct``)."""

    def __init__(self, **arrays):
        self.__dict__.update(arrays)


def _read_arrays(path: Path) -> dict:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        if suffix == ".pkl":
            from .formats.safe_pickle import load_smpl_model_pickle

            return load_smpl_model_pickle(path)
    except BadInputError:
        raise
    except Exception as exc:  # zip/pickle/numpy errors: the file is bad
        raise BadInputError(path, f"cannot read SMPL model file ({type(exc).__name__}: {exc})") from None
    raise BadInputError(path, "SMPL model files must be .pkl or .npz")


@dataclass
class SmplModel:
    """A loaded SMPL body model (smplx ``SMPL`` module on the CPU)."""

    path: Path
    body: object  # smplx.SMPL
    gender: str

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) vertex indices."""
        return np.asarray(self.body.faces, dtype=np.int64)

    @property
    def weights(self) -> np.ndarray:
        """(V, 24) linear blend skinning weights."""
        return self.body.lbs_weights.detach().numpy().astype(np.float64)

    def _rest(self, betas):
        import torch

        b = torch.zeros(1, self.body.num_betas, dtype=torch.float32)
        if betas is not None:
            betas = np.asarray(betas, dtype=np.float32).reshape(-1)[: self.body.num_betas]
            b[0, : len(betas)] = torch.from_numpy(betas)
        with torch.no_grad():
            return self.body(betas=b, return_verts=True)

    def rest_joints(self, betas=None) -> np.ndarray:
        """(24, 3) T-pose joints (J_regressor on the shaped template), metres."""
        return self._rest(betas).joints[0, :NUM_JOINTS].numpy().astype(np.float64)

    def vertices(self, betas=None) -> np.ndarray:
        """(V, 3) T-pose vertices for ``betas``, metres."""
        return self._rest(betas).vertices[0].numpy().astype(np.float64)

    def skeleton(self, betas=None) -> Skeleton:
        return Skeleton(self.rest_joints(betas), source=str(self.path))


def load_smpl_model(path, gender: str = "neutral") -> SmplModel:
    """Load a SMPL model file (.pkl or .npz) with smplx. Raises BadInputError."""
    import smplx

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "SMPL model file does not exist")
    arrays = _read_arrays(path)
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise BadInputError(path, f"not a SMPL model file: missing {', '.join(missing)}")
    num_vertices = np.shape(arrays["v_template"])[0]
    if getattr(arrays["J_regressor"], "shape", None) != (NUM_JOINTS, num_vertices):
        raise BadInputError(path, f"not a SMPL-24 model: J_regressor must be (24, {num_vertices})")
    try:
        body = smplx.SMPL(model_path=str(path), data_struct=_Struct(**arrays), num_betas=10, gender=gender)
    except Exception as exc:
        raise BadInputError(path, f"smplx cannot build a SMPL body from this file ({type(exc).__name__}: {exc})") from None
    return SmplModel(path, body, gender)


def posed_vertices(model: SmplModel, motion, batch: int = 256) -> np.ndarray:
    """(T, V, 3) mesh vertices of ``motion`` posed by ``model`` (metres), batched."""
    import torch

    from .rotations import quat_to_axis_angle

    poses = torch.as_tensor(quat_to_axis_angle(motion.rotations).reshape(motion.num_frames, -1), dtype=torch.float32)
    trans = torch.as_tensor(motion.trans, dtype=torch.float32)
    betas = np.zeros(model.body.num_betas, dtype=np.float32)
    if motion.betas is not None:
        b = np.asarray(motion.betas, dtype=np.float32).reshape(-1)[: len(betas)]
        betas[: len(b)] = b
    out = []
    with torch.no_grad():
        for s in range(0, motion.num_frames, batch):
            n = min(batch, motion.num_frames - s)
            res = model.body(
                global_orient=poses[s:s + n, :3], body_pose=poses[s:s + n, 3:], transl=trans[s:s + n],
                betas=torch.from_numpy(betas).expand(n, -1),
            )
            out.append(res.vertices.numpy())
    return np.concatenate(out).astype(np.float64)
