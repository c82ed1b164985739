"""The tar refiner: disentangled per-joint recurrent refinement (generic checks: test_learned.py)."""
from refine_core.refiners.tar import TAR, TARConfig, pose_features


def test_recurrent_refinement_is_disentangled():
    """L + 1 estimates (Phi_init and one per iteration); the GRU of one joint
    moves that joint's parameters only."""
    import roma
    import torch

    torch.manual_seed(0)
    config = TARConfig()
    model = TAR(config).eval()
    with torch.no_grad():
        model.step_weight[5].normal_()  # only joint 5's regressor is non-zero
        poses = pose_features(roma.random_unitquat((2, config.window, 24)), torch.randn(2, config.window, 3))
        estimates = model(poses)
    assert len(estimates) == config.iterations + 1
    moved = (estimates[-1] - estimates[0]).abs().view(2, -1)[:, :24 * 6].view(2, 24, 6).amax(dim=(0, 2))
    assert moved[5] > 0 and torch.all(moved[torch.arange(24) != 5] == 0)
