"""Noise schedule and DDIM sampler of D3PRefiner, apart from the network.

The paper's forward process (its Eq. 3, 4 and 8), in our words: the noisy
motion is ``y = x0 + e``. Diffusion noise is a *noisy motion*,
``eps = x0 + e``, so

    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) (x0 + e)
        = (sqrt(abar_t) + sqrt(1 - abar_t)) x0 + sqrt(1 - abar_t) e.

With the cosine schedule abar_T = 0 exactly, so ``x_T = y``: the reverse
process starts at the estimator's output itself. The network predicts the
error ``e`` at step t; then (Eq. 9)

    x0 = (x_t - sqrt(1 - abar_t) e) / (sqrt(abar_t) + sqrt(1 - abar_t)),  eps = x0 + e,

and a deterministic DDIM step to s < t is ``x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s) eps``.
At s = 0 (abar_0 = 1) that is x0.
"""
import math
from dataclasses import dataclass

import torch


@dataclass
class ScheduleConfig:
    steps: int = 50  # T, training timesteps
    offset: float = 0.008  # s of the cosine schedule (Nichol & Dhariwal)


class CosineSchedule:
    """abar_t = f(t) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s)), t = 0..T.

    ``abar`` is a (T + 1,) tensor with abar[0] = 1 and abar[T] = 0.
    """

    def __init__(self, config: ScheduleConfig | None = None):
        config = config or ScheduleConfig()
        self.steps = config.steps
        t = torch.arange(config.steps + 1, dtype=torch.float64) / config.steps
        f = torch.cos((t + config.offset) / (1 + config.offset) * math.pi / 2) ** 2
        abar = (f / f[0]).clamp(0.0, 1.0)
        abar[-1] = 0.0  # cos(pi/2) in floating point is 6e-17: make x_T = y exact
        self.abar = abar.float()

    def coefficients(self, t: torch.Tensor):
        """(sqrt(abar_t), sqrt(1 - abar_t)) for integer timesteps ``t`` (any shape)."""
        abar = self.abar.to(t.device)[t]
        return abar.sqrt(), (1 - abar).sqrt()

    def q_sample(self, x0: torch.Tensor, error: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward process x_t from clean ``x0`` and error ``e`` (B, ...); t (B,) ints."""
        a, b = (c.view(-1, *([1] * (x0.dim() - 1))) for c in self.coefficients(t))
        return (a + b) * x0 + b * error

    def predict_x0(self, x_t: torch.Tensor, error: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Eq. 9: clean estimate from x_t and the predicted error; t (B,) ints."""
        a, b = (c.view(-1, *([1] * (x_t.dim() - 1))) for c in self.coefficients(t))
        return (x_t - b * error) / (a + b)

    def ddim_step(self, x_t, error, t, s):
        """Deterministic DDIM update from step t to step s < t (t, s: (B,) ints)."""
        x0 = self.predict_x0(x_t, error, t)
        a, b = (c.view(-1, *([1] * (x_t.dim() - 1))) for c in self.coefficients(s))
        return a * x0 + b * (x0 + error)

    def sampling_timesteps(self, k: int) -> list:
        """K + 1 evenly spaced steps from T down to 0 (K = 2, T = 50: [50, 25, 0])."""
        return [round(self.steps * (k - i) / k) for i in range(k + 1)]


def ddim_sample(predict_error, y: torch.Tensor, schedule: CosineSchedule, k: int = 2) -> torch.Tensor:
    """Reverse process from the noisy input ``y`` (x_T = y) in ``k`` DDIM steps.

    ``predict_error(x_t, t)`` with t a (B,) long tensor returns the error of
    x_t's shape. Returns the clean estimate x_0.
    """
    x = y
    steps = schedule.sampling_timesteps(k)
    for t, s in zip(steps[:-1], steps[1:], strict=False):
        tt = torch.full((y.shape[0],), t, dtype=torch.long, device=y.device)
        ss = torch.full_like(tt, s)
        x = schedule.ddim_step(x, predict_error(x, tt), tt, ss)
    return x
