"""`evaluation=interpolation`: the strip figure of any model's latent interpolations, and the lines metrics on
data=lines, from `python -m lightning_ae.eval` on a tiny trained checkpoint."""
from __future__ import annotations

import json
import math

import torch
from PIL import Image

from datamodules import LinesDataModule
from lightning_ae.evaluation.parts.interpolation import strips
from lightning_ae.evaluation.suite import evaluate, settings
from lightning_ae.metrics.lines import interpolation_pairs
from tests.conftest import compose_cfg
from tests.evaluation.test_lines import PixelAE
from tests.test_eval import train_checkpoint


def test_a_strip_row_is_input_a_the_decoded_path_and_input_b():
    """With pixel codes a latent path is the cross-fade (1 − α)·a + α·b, α = 0, 1/(n−1), …, 1."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 32, 32, generator=g) * 2 - 1, torch.rand(2, 1, 32, 32, generator=g) * 2 - 1
    rows = strips(PixelAE(), a, b, steps=5, lo=-1.0, hi=1.0).view(2, 7, 1, 32, 32)
    unit = lambda v: (v + 1) / 2  # noqa: E731
    torch.testing.assert_close(rows[:, 0], unit(a))
    torch.testing.assert_close(rows[:, -1], unit(b))
    for k, alpha in enumerate(torch.linspace(0, 1, 5)):
        torch.testing.assert_close(rows[:, k + 1], unit((1 - alpha) * a + alpha * b))


def test_the_figure_shows_the_pairs_the_metrics_score(tmp_path):
    dm = LinesDataModule(train_size=64, test_size=64, channels=1, height=32, width=32, num_classes=16,
                         value_range=(-1.0, 1.0), val_size=16)
    cfg = settings("interpolation", {"interpolation": {"dir": str(tmp_path), "pairs": 3, "steps": 4}})
    m = evaluate(PixelAE(), dm, cfg, device="cpu")
    assert set(m) == {"interpolation/strips", "lines/mean_distance", "lines/smoothness", "lines/end_angle_error_deg"}
    png = torch.tensor(list(Image.open(tmp_path / "interpolation.png").convert("L").getdata()), dtype=torch.float32)
    png = png.view(3 * 34 + 2, 6 * 34 + 2) / 255  # make_grid: 2-px padding around 32-px tiles
    a, _ = interpolation_pairs(dm.tensors("test")[0], 32)  # the lines part's pairs (64 test lines)
    for row in range(3):
        tile = png[2 + 34 * row : 34 + 34 * row, 2:34]
        assert (tile - (a[row, 0] + 1) / 2).abs().max() <= 1 / 255 + 1e-6


def test_eval_command_writes_strips_and_lines_metrics(make_cfg, tmp_path):
    from lightning_ae.eval import run

    ckpt = train_checkpoint(make_cfg, "ae", "lines")
    out = tmp_path / "eval"
    cfg = compose_cfg([f"ckpt_path={ckpt}", "evaluation=interpolation", "evaluation.lines.pairs=16"], out,
                      config_name="eval")
    metrics = run(cfg)
    assert (out / "interpolation.png").is_file()
    assert Image.open(out / "interpolation.png").size == (18 * 34 + 2, 16 * 34 + 2)  # 16 rows of a, 16 steps, b
    assert set(json.loads((out / "eval.json").read_text())["metrics"]) == set(metrics) == {
        "interpolation/strips", "lines/mean_distance", "lines/smoothness", "lines/end_angle_error_deg"}
    assert math.isfinite(metrics["lines/mean_distance"]) and math.isfinite(metrics["lines/end_angle_error_deg"])
