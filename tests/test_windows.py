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


def test_low_pass_of_a_long_motion_has_no_seams():
    """low_pass convolves long motions in spans of frames; the result is one Gaussian filter."""
    from scipy.ndimage import gaussian_filter1d

    from refine_core.refiners.common import LOW_PASS_SPAN, low_pass

    x = torch.randn(2, 2 * LOW_PASS_SPAN + 123, 5, dtype=torch.float64)
    expected = gaussian_filter1d(x.numpy(), 2.0, axis=1, mode="nearest", truncate=3.0)
    assert torch.allclose(low_pass(x, 2.0), torch.from_numpy(expected), atol=1e-6)  # float32 weights
