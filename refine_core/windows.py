"""Sliding windows shared by every learned refiner.

Two shapes of work:
- ``centered_windows``: one window per frame, centred on it (HPR-Net's
  chunks), edges padded by replication so every frame is refined;
- ``refine_overlapping``: fixed-length windows with a stride for
  sequence-to-sequence models; overlapping outputs are averaged so every
  frame is refined exactly once in the result.
Both are processed in chunks (``chunked``) so memory stays bounded on long
motions.
"""
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F


def pad_edges(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """(T, C) -> (before + T + after, C), replicating the first/last frame."""
    return F.pad(x.T[None], (before, after), mode="replicate")[0].T if (before or after) else x


def centered_windows(x: torch.Tensor, length: int, frames: slice = slice(None)) -> torch.Tensor:
    """(T, C) -> (F, length, C): the window of each frame in ``frames``, centred on
    it (odd ``length``), edges replicated. Built by indexing only the frames
    asked for, so a chunk of a long motion costs only its own windows."""
    start, stop, _ = frames.indices(len(x))
    offsets = torch.arange(length, device=x.device) - length // 2
    idx = (torch.arange(start, stop, device=x.device)[:, None] + offsets).clamp(0, len(x) - 1)
    return x[idx]


def window_starts(num_frames: int, length: int, stride: int) -> list:
    """Start frames of windows of ``length`` covering [0, num_frames) (the last flush right)."""
    if num_frames <= length:
        return [0]
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] != num_frames - length:
        starts.append(num_frames - length)
    return starts


def refine_overlapping(window_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, length: int, stride: int,
                       progress: Optional[Callable[[float], None]] = None, batch: int = 64) -> torch.Tensor:
    """(T, C) -> (T, C'): ``window_fn`` ((B, length, C) -> (B, length, C')) applied to
    windows of ``length`` frames every ``stride`` frames, ``batch`` at a time, the
    outputs averaged where windows overlap.

    Each window is weighted by a Hann-like taper so window edges (with less
    context) count less; the taper never reaches zero so every frame counts.
    Motions shorter than ``length`` are edge-padded to it and cut back after.
    Outputs are accumulated as they come, so memory grows with T, not with the
    number of windows.
    """
    num_frames = x.shape[0]
    if num_frames < length:
        x = pad_edges(x, 0, length - num_frames)
    starts = window_starts(x.shape[0], length, stride)
    taper = torch.sin(torch.linspace(0.0, torch.pi, length + 2, dtype=x.dtype, device=x.device)[1:-1])[:, None]
    out, weight = None, x.new_zeros((x.shape[0], 1))
    with torch.no_grad():
        for part in chunked(len(starts), batch, progress):
            outputs = window_fn(torch.stack([x[s:s + length] for s in starts[part]]))
            if out is None:
                out = outputs.new_zeros((x.shape[0], outputs.shape[-1]))
            for w, s in zip(outputs, starts[part]):
                out[s:s + length] += taper * w
                weight[s:s + length] += taper
    return (out / weight)[:num_frames]


def chunked(n: int, chunk: int, progress: Optional[Callable[[float], None]] = None) -> Iterator[slice]:
    """Slices of ``range(n)`` of at most ``chunk`` items, reporting progress after each."""
    for start in range(0, n, chunk):
        yield slice(start, min(n, start + chunk))
        if progress is not None:
            progress(min(n, start + chunk) / n)
