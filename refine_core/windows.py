"""Window drivers: how every learned refiner walks over a motion.

A driver takes per-frame features ``x`` (T, C) of a stretch of motion that
starts at absolute frame ``offset`` of the whole motion, and a window
function, and returns per-frame outputs (T, C'). Windows are anchored at
absolute frames, so refining a slice with ``context`` frames on each side
gives, inside the slice's middle, exactly what refining the whole motion
gives (``refiners.refine`` feeds that context):

- ``CentredWindows``: one window per frame, centred on it (HPR-Net, TAR);
- ``OverlappingWindows``: fixed-length windows at multiples of a stride,
  outputs blended where they overlap (UGCN, diffusion);
- ``ValidConvolution``: an unpadded convolution stack reading ``radius``
  frames each side of every output frame (the dilated TCN).

Motion edges are replicated. Work goes ``batch`` windows (or frames) at a
time, so memory stays bounded on long motions.
"""
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Progress = Callable[[float], None] | None
WindowFn = Callable[[torch.Tensor], torch.Tensor]


def pad_edges(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """(T, C) -> (before + T + after, C), replicating the first/last frame."""
    return F.pad(x.T[None], (before, after), mode="replicate")[0].T if (before or after) else x


def chunked(n: int, chunk: int, progress: Progress = None) -> Iterator[slice]:
    """Slices of ``range(n)`` of at most ``chunk`` items, reporting progress after each."""
    for start in range(0, n, chunk):
        yield slice(start, min(n, start + chunk))
        if progress is not None:
            progress(min(n, start + chunk) / n)


@dataclass(frozen=True)
class CentredWindows:
    """Each frame refined from the ``length`` frames centred on it (odd length),
    or from the frames at ``offsets`` from it (a sparse, multi-scale chunk).

    ``fn``: (B, length, C) -> (B, C'), the centre frame's output."""

    length: int
    offsets: tuple = ()  # frame offsets from the centre, ascending; () = -length // 2 .. length // 2

    @property
    def frame_offsets(self) -> tuple:
        return tuple(self.offsets) or tuple(range(-(self.length // 2), self.length // 2 + 1))

    @property
    def context(self) -> int:
        return max(abs(o) for o in self.frame_offsets)

    def windows(self, x: torch.Tensor, frames: slice | None = None) -> torch.Tensor:
        """(T, C) -> (F, length, C): the window of each frame in ``frames``, edges
        replicated; only the frames asked for are built."""
        start, stop, _ = (frames or slice(None)).indices(len(x))
        offsets = torch.tensor(self.frame_offsets, device=x.device)
        idx = (torch.arange(start, stop, device=x.device)[:, None] + offsets).clamp(0, len(x) - 1)
        return x[idx]

    def run(self, fn: WindowFn, x: torch.Tensor, offset: int = 0, progress: Progress = None,
            batch: int = 4096) -> torch.Tensor:
        out = None
        with torch.no_grad():
            for part in chunked(len(x), batch, progress):
                y = fn(self.windows(x, part))
                if out is None:
                    out = y.new_empty((len(x), y.shape[-1]))
                out[part] = y
        return out


@dataclass(frozen=True)
class OverlappingWindows:
    """Windows of ``length`` frames starting at absolute multiples of ``stride``.

    ``fn``: (B, length, C) -> (B, length, C'). Each window is weighted by a
    Hann-like taper (edges, with less context, count less; never zero, so
    every frame counts) and overlapping outputs are averaged. ``extra``:
    frames the method reads beyond its windows (a low-pass of the whole
    stretch before windowing). Motions shorter than a window are padded to it.
    """

    length: int
    stride: int
    extra: int = 0

    @property
    def context(self) -> int:
        return self.length + self.extra

    def starts(self, num_frames: int, offset: int = 0) -> list:
        """Window starts covering [0, num_frames) of a stretch beginning at absolute
        frame ``offset``: the absolute stride grid, plus one window flush with each
        end that the grid misses (at a slice's cut ends those cover only context)."""
        length = self.length
        if num_frames <= length:
            return [0]
        first = -offset % self.stride
        starts = list(range(first, num_frames - length + 1, self.stride))
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
        if starts[-1] != num_frames - length:
            starts.append(num_frames - length)
        return starts

    def run(self, fn: WindowFn, x: torch.Tensor, offset: int = 0, progress: Progress = None,
            batch: int = 64) -> torch.Tensor:
        num_frames, length = x.shape[0], self.length
        if num_frames < length:
            x = pad_edges(x, 0, length - num_frames)
        starts = self.starts(x.shape[0], offset)
        taper = torch.sin(torch.linspace(0.0, torch.pi, length + 2, dtype=x.dtype, device=x.device)[1:-1])[:, None]
        # Outputs are accumulated as they come: memory grows with T, not with the number of windows.
        out, weight = None, x.new_zeros((x.shape[0], 1))
        with torch.no_grad():
            for part in chunked(len(starts), batch, progress):
                outputs = fn(torch.stack([x[s:s + length] for s in starts[part]]))
                if out is None:
                    out = outputs.new_zeros((x.shape[0], outputs.shape[-1]))
                for w, s in zip(outputs, starts[part], strict=False):
                    out[s:s + length] += taper * w
                    weight[s:s + length] += taper
        return (out / weight)[:num_frames]


@dataclass(frozen=True)
class ValidConvolution:
    """Output frame t from input frames t - radius .. t + radius (unpadded convolutions).

    ``fn``: (1, n + 2 radius, C) -> (1, n, C'); ``batch``: output frames per pass."""

    radius: int

    @property
    def context(self) -> int:
        return self.radius

    def run(self, fn: WindowFn, x: torch.Tensor, offset: int = 0, progress: Progress = None,
            batch: int = 8192) -> torch.Tensor:
        r = self.radius
        padded = pad_edges(x, r, r)
        out = None
        with torch.no_grad():
            for part in chunked(len(x), batch, progress):
                y = fn(padded[part.start:part.stop + 2 * r][None])[0]
                if out is None:
                    out = y.new_empty((len(x), y.shape[-1]))
                out[part] = y
        return out
