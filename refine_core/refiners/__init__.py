"""The refiner registry and the one entry point, ``refine``.

Every method, learned or classical, refines a whole ``Motion`` and returns a
new one of the same length. ``refine`` adds what all of them share: the
request checked once (method, range, blend, strength, device, parameters),
the frame range (outside it the output is the input, bit for bit) with the
method's context around it, the slerp blend at the range edges, strength and
progress/cancel callbacks.

Learned methods are found, not listed: every module here that declares a
module-level ``DESCRIPTION`` string is one (its ``METHOD`` declaration is read
only when the method runs), so the registry imports without torch and a new
method is one new module, its weights, a test and a docs row.
"""
import ast
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInputError
from ..feet import FeetParams, check_feet, lock_feet, segments_by_joint
from ..motion import MIN_FRAMES_TO_REFINE, Motion
from ..params import check_params, parse_params
from ..resources import TUNED_FILTERS_PATH, weights_path
from ..rotations import slerp

__all__ = ["METHODS", "Cancelled", "Method", "RefineRequest", "available_methods", "check_frame_range",
           "check_request", "get_method", "refine", "resolve_device"]


class Cancelled(Exception):
    """Raised by a progress callback to stop a refinement; nothing is changed."""


@dataclass(frozen=True)
class Method:
    """One refinement method: ``module`` under refine_core, learned or classical."""

    name: str
    kind: str  # "learned" or "classical"
    description: str
    module: str

    @property
    def weights_path(self) -> Path | None:
        return weights_path(self.name) if self.kind == "learned" else None

    @property
    def available(self) -> bool:
        return self.kind == "classical" or self.weights_path.is_file()

    def _module(self):
        return importlib.import_module(f"..{self.module}", __name__)

    def declaration(self):
        """A learned method's ``LearnedMethod`` (imports torch)."""
        return self._module().METHOD

    def params(self) -> tuple:
        """The parameters ``--param`` may set, with their defaults."""
        if self.kind == "learned":
            return self.declaration().params
        from ..filters import FILTER_PARAMS

        tuned = _tuned_defaults().get(self.name, {})
        return tuple(p.with_default(tuned[p.name]) if p.name in tuned else p for p in FILTER_PARAMS[self.name])

    @property
    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params()}

    def check_available(self):
        if not self.available:
            raise BadInputError(
                f"--method {self.name}",
                f"learned method '{self.name}' has no trained weights yet ({self.weights_path} is missing); "
                f"available now: {', '.join(available_methods())}",
            )

    def load(self) -> Callable:
        """The method's ``refine(motion, progress=..., **params)`` (learned: also ``device``, ``offset``)."""
        self.check_available()
        if self.kind == "learned":
            return self.declaration().refine
        return getattr(self._module(), f"refine_{self.name}")

    def context(self, params: dict, device: str = "cpu", fps: float = 30.0) -> int | None:
        """Frames each side of a range the method reads: a learned method's driver
        reach; None for filters, which see the whole motion (they are cheap, and
        IIR and causal filters depend on every earlier frame)."""
        return self.declaration().context(params, device, fps) if self.kind == "learned" else None


def _tuned_defaults() -> dict:
    """Classical filter parameters tuned on the training split (train/tune_classical.py):
    the one place their defaults live."""
    if not TUNED_FILTERS_PATH.is_file():
        return {}
    return {name: entry["params"] for name, entry in json.loads(TUNED_FILTERS_PATH.read_text())["methods"].items()}


def _learned_methods() -> list:
    """Modules of this package that declare a ``DESCRIPTION`` (read without importing them)."""
    found = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["DESCRIPTION"]
                    and isinstance(node.value, ast.Constant)):
                found.append(Method(path.stem, "learned", node.value.value, f"refiners.{path.stem}"))
    return found


LEARNED_ORDER = ("hpr", "diffusion", "ugcn", "tcn", "tar")  # the papers' order in the docs; new ones follow
CLASSICAL = (
    Method("butterworth", "classical", "Zero-phase 4th-order Butterworth low-pass (cutoff in Hz)", "filters"),
    Method("gaussian", "classical", "Gaussian smoothing over time (sigma in frames)", "filters"),
    Method("oneeuro", "classical", "One Euro filter: speed-adaptive low-pass (Casiez et al. 2012)", "filters"),
    Method("savgol", "classical", "Savitzky-Golay polynomial smoothing (window, order)", "filters"),
    Method("slerp", "classical", "Spherical interpolation between keyframes every N frames", "filters"),
)
METHODS = {
    m.name: m
    for m in sorted(_learned_methods(), key=lambda m: (LEARNED_ORDER + (m.name,)).index(m.name)) + list(CLASSICAL)
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


@dataclass(frozen=True)
class RefineRequest:
    """A refinement request, checked: what does not depend on the motion."""

    method: Method
    blend: int
    strength: float
    device: str
    params: dict  # every parameter of the method, given or default
    feet: FeetParams | None = None  # foot lock (refine_core.feet); None: off


def check_request(method: str, blend: int = 0, strength: float = 1.0, device: str = "auto",
                  params=None, feet: str = "off", feet_params=None) -> RefineRequest:
    """Validate a request once, before any file is read (CLI, batch and panel call this).

    ``params``: a dict, ``k=v`` strings or a JSON object (``params.parse_params``);
    ``feet``: "off" or "lock" with ``feet_params`` in the same forms (refine_core.feet)."""
    spec = get_method(method)
    spec.check_available()
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0.0 <= strength <= 1.0:
        raise BadInputError(f"strength {strength}", "strength must be a number between 0 and 1")
    if isinstance(blend, bool) or not isinstance(blend, int | np.integer) or blend < 0:
        raise BadInputError(f"--blend {blend}", "blend must be a whole number of frames, 0 or more")
    if device not in ("auto", "cpu", "cuda"):
        raise BadInputError(f"--device {device}", "device must be auto, cpu or cuda")
    checked = check_params(spec.name, spec.params(), parse_params(params))
    return RefineRequest(spec, int(blend), float(strength), device, checked, check_feet(feet, feet_params))


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


def check_frame_range(motion: Motion, frame_range, source=None) -> tuple:
    """Validate an inclusive (start, end) range of 0-based rows; None = all frames.

    A range may be a single frame: the method sees the frames around it."""
    last = motion.num_frames - 1
    start, end = (0, last) if frame_range is None else frame_range
    start = 0 if start is None else int(start)
    end = last if end is None else int(end)
    if start > end:
        raise BadInputError(source, f"frame range {start}..{end} is reversed: the start frame comes after the end frame")
    if not 0 <= start <= end <= last:
        raise BadInputError(source, f"frame range {start}..{end} is outside the motion's frames 0..{last}")
    return start, end


def refine(
    motion: Motion,
    method: str,
    frame_range=None,
    blend: int = 0,
    strength: float = 1.0,
    device: str = "auto",
    params=None,
    progress: Callable[[float], None] | None = None,
    feet: str = "off",
    feet_params=None,
) -> Motion:
    """Refine ``motion`` with ``method`` over the inclusive ``frame_range``; ``motion`` is not changed.

    Frames outside the range are copied bit for bit. The method sees its
    context on each side of the range (learned: the reach of its windows;
    filters: the whole motion), so a ranged refinement equals the
    whole-motion one inside the range. Inside the range the result
    is slerped towards the input over ``blend`` frames at each edge and scaled
    by ``strength`` (0: input, 1: fully refined). ``progress(fraction)`` is
    called as work proceeds; it may raise ``Cancelled``. ``feet="lock"``
    holds planted feet on the refined motion (refine_core.feet) before the
    blend, and ``meta["foot_contacts"]`` gets the locked runs; "off" changes nothing.
    """
    request = check_request(method, blend, strength, device, params, feet, feet_params)
    spec = request.method
    source = motion.meta.get("source")
    motion = motion.validate(source, min_frames=MIN_FRAMES_TO_REFINE)
    start, end = check_frame_range(motion, frame_range, source)
    run = spec.load()
    kwargs = dict(request.params)
    lo, hi = 0, motion.num_frames
    if spec.kind == "learned":
        kwargs["device"] = resolve_device(request.device)
        context = spec.context(request.params, kwargs["device"], motion.fps)
        lo, hi = max(0, start - context), min(motion.num_frames, end + 1 + context)
        kwargs["offset"] = lo
    refined = run(motion.slice(lo, hi), progress=progress, **kwargs)
    if refined.num_frames != hi - lo:
        raise RuntimeError(f"method {method} returned {refined.num_frames} frames for {hi - lo}")
    if request.feet is not None:
        refined = lock_feet(refined, request.feet)

    inner = slice(start - lo, end + 1 - lo)
    weight = blend_weights(end - start + 1, request.blend) * request.strength
    rotations = motion.rotations.copy()
    trans = motion.trans.copy()
    rotations[start:end + 1] = slerp(motion.rotations[start:end + 1], refined.rotations[inner], weight[:, None])
    trans[start:end + 1] = (1 - weight[:, None]) * motion.trans[start:end + 1] + weight[:, None] * refined.trans[inner]
    if progress is not None:
        progress(1.0)
    meta = dict(motion.meta, refined_with=method, refined_range=(start, end))
    if request.feet is not None:  # the locked contact runs, rows of the whole motion
        meta["foot_contacts"] = segments_by_joint(refined.meta["foot_contacts"], lo, start, end)
    return motion.replace(rotations=rotations, trans=trans, meta=meta)

