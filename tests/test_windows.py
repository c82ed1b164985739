"""refine_core.windows: the drivers cover every frame once and anchor windows at absolute frames."""
import pytest
import torch

from refine_core.windows import CentredWindows, OverlappingWindows, ValidConvolution


def refine_overlapping(fn, x, length, stride, batch=64, offset=0):
    return OverlappingWindows(length, stride).run(fn, x, offset, batch=batch)


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
    def fn(w):  # depends on the whole window
        return w.cumsum(1) / 10

    assert torch.allclose(refine_overlapping(fn, x, 64, 32, batch=1), refine_overlapping(fn, x, 64, 32, batch=64))


def test_low_pass_of_a_long_motion_has_no_seams():
    """low_pass convolves long motions in spans of frames; the result is one Gaussian filter."""
    from scipy.ndimage import gaussian_filter1d

    from refine_core.refiners.common import LOW_PASS_SPAN, low_pass

    x = torch.randn(2, 2 * LOW_PASS_SPAN + 123, 5, dtype=torch.float64)
    expected = gaussian_filter1d(x.numpy(), 2.0, axis=1, mode="nearest", truncate=3.0)
    assert torch.allclose(low_pass(x, 2.0), torch.from_numpy(expected), atol=1e-6)  # float32 weights


@pytest.mark.parametrize("driver, fn", [
    (OverlappingWindows(16, 6, extra=2), lambda w: w.cumsum(1) / 10),
    (CentredWindows(9), lambda w: w.cumsum(1)[:, -1] / 10),
    (CentredWindows(5, (-7, -2, 0, 2, 7)), lambda w: w.cumsum(1)[:, -1] / 10),
    (ValidConvolution(5), lambda w: w.unfold(1, 11, 1).sum(-1) / 10),
])
@pytest.mark.parametrize("lo, hi", [(0, 60), (23, 100), (37, 140), (80, 140)])
def test_a_slice_with_context_gives_the_whole_result(driver, fn, lo, hi):
    """Windows are anchored at absolute frames: a slice's inner frames (its
    driver's context away from a cut end) are what the whole motion gives."""
    x = torch.randn(140, 3, dtype=torch.float64)
    whole = driver.run(fn, x)
    part = driver.run(fn, x[lo:hi], offset=lo)
    inner_lo = lo + (driver.context if lo > 0 else 0)
    inner_hi = hi - (driver.context if hi < len(x) else 0)
    assert torch.allclose(part[inner_lo - lo:inner_hi - lo], whole[inner_lo:inner_hi], atol=1e-12)


def test_sparse_centred_windows_gather_the_frames_at_their_offsets():
    driver = CentredWindows(5, (-7, -2, 0, 2, 7))
    x = torch.arange(30, dtype=torch.float64)[:, None]
    windows = driver.windows(x, slice(10, 12))
    assert driver.context == 7
    assert windows[..., 0].tolist() == [[3, 8, 10, 12, 17], [4, 9, 11, 13, 18]]
    assert driver.windows(x, slice(0, 1))[0, :, 0].tolist() == [0, 0, 0, 2, 7]  # edges replicated
