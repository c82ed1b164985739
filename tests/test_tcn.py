"""The tcn refiner: the paper's receptive-field settings (generic checks: test_learned.py)."""
import pytest

from refine_core.refiners.tcn import TCN, TCNConfig


@pytest.mark.parametrize("kernel,blocks,field", [(1, 2, 1), (3, 2, 27), (3, 3, 81), (3, 4, 243)])
def test_receptive_field_is_w_to_the_b_plus_one(kernel, blocks, field):
    """The paper's (W, B) settings: a window of R + 9 frames gives 10 frames, and
    output frame 0 sees input frames 0 .. R - 1 only."""
    import roma
    import torch

    config = TCNConfig(kernel=kernel, blocks=blocks, channels=8)
    assert config.receptive_field == field
    torch.manual_seed(0)
    model = TCN(config).eval()
    torch.nn.init.normal_(model.output_layer.weight, std=0.1)  # the shipped init is zero (identity)
    quats, trans = roma.random_unitquat((1, field + 9, 24)), torch.zeros(1, field + 9, 3)
    q0, _ = model(quats, trans)
    assert q0.shape == (1, 10, 24, 4)
    quats[:, field] = roma.random_unitquat((24,))  # just outside output frame 0's field
    q1, _ = model(quats, trans)
    assert torch.equal(q0[:, 0], q1[:, 0]) and not torch.allclose(q0[:, 1], q1[:, 1])
