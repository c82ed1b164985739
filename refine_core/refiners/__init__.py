"""The refiner registry and the one entry point, ``refine``.

Every method, learned or classical, refines a whole ``Motion`` and returns a
new one of the same length. ``refine`` adds what all of them share: the frame
range (outside it the output is the input, bit for bit), the slerp blend at
the range edges, strength, device choice and progress/cancel callbacks.
"""
import importlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import BadInputError
from ..motion import MIN_FRAMES_TO_REFINE, Motion
from ..rotations import slerp

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class Cancelled(Exception):
    """Raised by a progress callback to stop a refinement; nothing is changed."""


@dataclass(frozen=True)
class Method:
    """One refinement method.

    ``module``: relative module under refine_core whose ``refine(motion,
    device=..., progress=..., **params)`` runs the method on a whole motion.
    ``context``: frames of context a ranged refinement feeds on each side.
    """

    name: str
    kind: str  # "learned" or "classical"
    description: str
    module: str
    context: int = 64
    defaults: dict = field(default_factory=dict)

    @property
    def weights_path(self) -> Optional[Path]:
        return WEIGHTS_DIR / f"{self.name}.pt" if self.kind == "learned" else None

    @property
    def available(self) -> bool:
        return self.kind == "classical" or self.weights_path.is_file()

    def load(self):
        """The method's ``refine`` function (imports torch only for learned methods)."""
        if not self.available:
            raise BadInputError(
                f"--method {self.name}",
                f"learned method '{self.name}' has no trained weights yet ({self.weights_path} is missing); "
                f"available now: {', '.join(available_methods())}",
            )
        module = importlib.import_module(f"..{self.module}", __name__)
        return getattr(module, f"refine_{self.name}" if self.kind == "classical" else "refine")


def _tuned_defaults() -> dict:
    """Classical filter parameters tuned on the training split (train/tune_classical.py)."""
    path = WEIGHTS_DIR / "classical.json"
    if not path.is_file():
        return {}
    return {name: entry["params"] for name, entry in json.loads(path.read_text())["methods"].items()}


_TUNED = _tuned_defaults()

METHODS = {
    m.name: replace(m, defaults=_TUNED.get(m.name, {})) if m.kind == "classical" else m
    for m in (
        Method("hpr", "learned", "HPR-Net: attention weights over a 17-frame window average unit quaternions", "refiners.hpr"),
        Method("diffusion", "learned", "D3PRefiner: diffusion denoiser started at the noisy motion, 2 DDIM steps", "refiners.diffusion"),
        Method("ugcn", "learned", "UGCN: U-shaped spatio-temporal graph network trained with a motion loss", "refiners.ugcn"),
        Method("tcn", "learned", "Dilated temporal ConvNet (243-frame receptive field) trained with noise augmentation", "refiners.tcn"),
        Method("tar", "learned", "TAR: temporal transformer plus per-joint GRU refinement iterations", "refiners.tar"),
        Method("butterworth", "classical", "Zero-phase 4th-order Butterworth low-pass (cutoff in Hz)", "filters"),
        Method("gaussian", "classical", "Gaussian smoothing over time (sigma in frames)", "filters"),
        Method("oneeuro", "classical", "One Euro filter: speed-adaptive low-pass (Casiez et al. 2012)", "filters"),
        Method("savgol", "classical", "Savitzky-Golay polynomial smoothing (window, order)", "filters"),
        Method("slerp", "classical", "Spherical interpolation between keyframes every N frames", "filters"),
    )
}


def available_methods() -> list:
    """Names of the methods that can run now (learned ones need weights)."""
    return [name for name, m in METHODS.items() if m.available]


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise BadInputError(f"--method {name}", f"unknown method; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'."""
    if device not in ("auto", "cpu", "cuda"):
        raise BadInputError(f"--device {device}", "device must be auto, cpu or cuda")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise BadInputError("--device cuda", "CUDA was asked for but torch sees no GPU")
    return "cpu"


def blend_weights(length: int, blend: int) -> np.ndarray:
    """(length,) weight of the refined motion: ramps 1/(N+1) .. N/(N+1) over the
    first and last ``blend`` frames of the range, 1 in between."""
    w = np.ones(length)
    n = min(blend, length // 2)
    if n > 0:
        ramp = np.arange(1, n + 1) / (n + 1)
        w[:n] = ramp
        w[length - n:] = np.minimum(w[length - n:], ramp[::-1])
    return w


def check_frame_range(motion: Motion, frame_range, source=None):
    """Validate an inclusive (start, end) range of 0-based rows; None = all frames."""
    last = motion.num_frames - 1
    start, end = (0, last) if frame_range is None else frame_range
    start = 0 if start is None else int(start)
    end = last if end is None else int(end)
    if start > end:
        raise BadInputError(source, f"frame range {start}..{end} is reversed: the start frame comes after the end frame")
    if not 0 <= start <= end <= last:
        raise BadInputError(source, f"frame range {start}..{end} is outside the motion's frames 0..{last}")
    if end - start + 1 < MIN_FRAMES_TO_REFINE:
        raise BadInputError(source, f"frame range {start}..{end} has fewer than {MIN_FRAMES_TO_REFINE} frames to refine")
    return start, end


def refine(
    motion: Motion,
    method: str,
    frame_range=None,
    blend: int = 0,
    strength: float = 1.0,
    device: str = "auto",
    params: Optional[dict] = None,
    progress: Optional[Callable[[float], None]] = None,
) -> Motion:
    """Refine ``motion`` with ``method`` over the inclusive ``frame_range``.

    Frames outside the range are copied bit for bit. The method sees up to
    ``Method.context`` frames on each side of the range, so the range edges are
    refined with real neighbours rather than padding. Inside the range the
    result is slerped towards the input over ``blend`` frames at each edge and
    scaled by ``strength`` (0: input, 1: fully refined). ``progress(fraction)``
    is called as work proceeds; it may raise ``Cancelled``.
    """
    spec = get_method(method)
    source = motion.meta.get("source")
    motion.validate(source, min_frames=MIN_FRAMES_TO_REFINE)
    start, end = check_frame_range(motion, frame_range, source)
    if not 0.0 <= strength <= 1.0:
        raise BadInputError(f"strength {strength}", "strength must be between 0 and 1")
    if blend < 0:
        raise BadInputError(f"--blend {blend}", "blend must be 0 or more frames")
    run = spec.load()
    kwargs = dict(spec.defaults, **(params or {}))
    if spec.kind == "learned":
        kwargs["device"] = resolve_device(device)
    lo = max(0, start - spec.context)
    hi = min(motion.num_frames, end + 1 + spec.context)
    refined = run(motion.slice(lo, hi), progress=progress, **kwargs)
    if refined.num_frames != hi - lo:
        raise RuntimeError(f"method {method} returned {refined.num_frames} frames for {hi - lo}")

    inner = slice(start - lo, end + 1 - lo)
    weight = blend_weights(end - start + 1, blend) * strength
    rotations = motion.rotations.copy()
    trans = motion.trans.copy()
    rotations[start:end + 1] = slerp(motion.rotations[start:end + 1], refined.rotations[inner], weight[:, None])
    trans[start:end + 1] = (1 - weight[:, None]) * motion.trans[start:end + 1] + weight[:, None] * refined.trans[inner]
    if progress is not None:
        progress(1.0)
    meta = dict(motion.meta, refined_with=method, refined_range=(start, end))
    return motion.replace(rotations=rotations, trans=trans, meta=meta)
