"""refine_core.windows: overlapping windows merged back, every frame once."""
import pytest
import torch

from refine_core.windows import refine_overlapping


@pytest.mark.parametrize("frames", [5, 64, 65, 100, 257])
def test_overlapping_windows_merge_back_to_every_frame(frames):
    x = torch.randn(frames, 7)
    assert torch.allclose(refine_overlapping(lambda w: w, x, 64, 32), x, atol=1e-6)
    # Weights sum to one per frame: a constant added by every window comes back once.
    assert torch.allclose(refine_overlapping(lambda w: w + 1.0, x, 64, 32), x + 1.0, atol=1e-6)


def test_overlap_is_blended_not_cut():
    """Where two windows disagree the result moves between them smoothly (tapered weights)."""
    x = torch.zeros(96, 1)
    calls = iter(range(10))
    merged = refine_overlapping(lambda w: torch.stack([torch.full_like(v, float(next(calls))) for v in w]),
                                x, 64, 32)[:, 0]
    assert merged[0] == 0 and merged[-1] == 1
    steps = merged[1:] - merged[:-1]
    assert (steps >= 0).all() and steps.max() < 0.1  # no jump at a window edge


def test_batches_do_not_change_the_result():
    x = torch.randn(300, 3)
    fn = lambda w: w.cumsum(1) / 10  # depends on the whole window
    assert torch.allclose(refine_overlapping(fn, x, 64, 32, batch=1), refine_overlapping(fn, x, 64, 32, batch=64))
