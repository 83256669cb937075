"""DAE corruptions: each does what it says, vectorised over the batch."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate


def model(make_cfg, *extra):
    return instantiate(make_cfg("dae", "mnist", list(extra)).model)


def test_gaussian_noise_has_the_configured_std(make_cfg):
    m = model(make_cfg, "model.noise=gaussian", "model.std=0.3")
    x = torch.zeros(64, 1, 28, 28)
    assert abs(float((m.corrupt(x) - x).std()) - 0.3) < 0.01


def test_salt_and_pepper_hits_the_configured_share(make_cfg):
    m = model(make_cfg, "model.noise=salt_pepper", "model.prob=0.2")
    x = torch.full((64, 1, 28, 28), 0.5)
    c = m.corrupt(x)
    hit = c != 0.5
    assert abs(float(hit.float().mean()) - 0.2) < 0.01
    assert set(c[hit].unique().tolist()) == {0.0, 1.0}


def test_box_masks_are_rectangles_of_the_configured_size(make_cfg):
    m = model(make_cfg, "model.noise=mask", "model.boxes=1", "model.box_min=0.25", "model.box_max=0.5")
    mask = m.box_mask(torch.zeros(32, 1, 28, 28))[:, 0]
    for img in mask:
        rows, cols = img.any(1).nonzero().flatten(), img.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert 7 <= h <= 14 and 7 <= w <= 14
        assert int(img.sum()) == h * w  # a filled rectangle
    x = torch.ones(2, 1, 28, 28)
    assert float(m.corrupt(x).min()) == 0.0  # filled with the data minimum


def test_unknown_noise_is_a_clear_error(make_cfg):
    from lightning_ae.errors import UserError

    with pytest.raises(Exception, match="unknown model.noise 'blur'"):
        try:
            model(make_cfg, "model.noise=blur")
        except Exception as e:  # hydra wraps the UserError
            cause = e.__cause__ or e
            assert isinstance(cause, UserError)
            raise cause


def test_denoising_grid_shows_noisy_output_clean(make_cfg):
    m = model(make_cfg)
    grids = m.image_grids(torch.rand(8, 1, 28, 28))
    assert grids["denoising"].shape == (24, 1, 28, 28)
