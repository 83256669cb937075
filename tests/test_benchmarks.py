"""The benchmark scripts' own logic (never timings): the twins compute the models' losses, and the import
audit reads `-X importtime` reports correctly."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from benchmarks.common import compose
from benchmarks.import_audit import audit
from benchmarks.twins import LOSSES


@pytest.mark.parametrize("name", list(LOSSES))
def test_twin_loss_is_the_models_training_loss(name, tmp_path):
    """Same weights, same batch, same random draws: the hand-written twin's loss equals `model.loss`."""
    from hydra.utils import instantiate

    total = 100
    extra = {"vae": ["model.beta=2.0"], "cvae": ["model.beta=2.0"], "nvae_small": [f"model.schedule_steps={total}"]}
    cfg = compose([f"model={name}", "data=digits", *extra.get(name, [])], output_dir=str(tmp_path))
    data = instantiate(cfg.data)
    data.setup()
    x, y = data.tensors("train")[0][:16], data.splits["train"][1][:16]
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    twin_model = copy.deepcopy(model)  # the quantiser's EMA and NVAE's power iteration change state
    torch.manual_seed(1)
    want = model.loss((x, y))["loss"]
    torch.manual_seed(1)
    got = LOSSES[name](twin_model, cfg.model, total)(x, y)
    torch.testing.assert_close(got, want)


def test_import_audit_costs_and_chains():
    # `-X importtime` lists a module after the ones it imports; indentation is the import depth
    report = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 |     heavy.sub",
        "import time:       200 |        300 |   heavy",
        "import time:        50 |        350 | app",
        "import time:        10 |         10 | other",
        "import time:        40 |         40 |   heavy.late",
        "import time:         5 |         45 | tool",
    ])
    rows = {r[0]: r[1:] for r in audit(report, packages=("heavy", "app"))}
    own, pulled, chain = rows["heavy"]
    assert own == pytest.approx((100 + 200 + 40) * 1e-6)
    assert pulled == pytest.approx((300 + 40) * 1e-6)  # the two imports that entered `heavy` from outside
    assert chain == ["app", "heavy"]  # the costlier entry
    assert rows["app"] == (pytest.approx(50e-6), pytest.approx(350e-6), ["app"])


@pytest.mark.parametrize("name", ["acai", "vaegan", "alae"])
def test_adversarial_twin_takes_the_models_steps(name, tmp_path):
    """adversarial_speed.py times a hand-written loop against the model: from the same weights and seed, one batch
    of each must land on the very same weights (check_twin raises otherwise), so both sides time the same work."""
    from hydra.utils import instantiate

    from benchmarks.adversarial_speed import check_twin

    cfg = compose([f"model={name}", "data=digits", "data.batch_size=16"], output_dir=str(tmp_path))
    data = instantiate(cfg.data)
    data.setup("fit")
    torch.manual_seed(0)
    check_twin(name, instantiate(cfg.model), next(iter(data.train_dataloader())))


def _fit_with_curve(make_cfg, tmp_path, fid_samples: int):
    import csv

    from tests.conftest import run_cfg

    curve = tmp_path / f"curve{fid_samples}.jsonl"
    cfg = make_cfg("vae", "digits", fast=False, extra=[
        "trainer.max_epochs=2", "+trainer.limit_train_batches=4", "logger=csv", "test=false", "evaluation.enabled=false",
        "+callbacks.curve._target_=benchmarks.curve.LearningCurve", f"+callbacks.curve.path={curve}",
        f"+callbacks.curve.parts=[{'fid' if fid_samples else ''}]", f"+callbacks.curve.evaluation.fid.num_samples={fid_samples}",
        f"+callbacks.curve.evaluation.cache_dir={tmp_path / 'cache'}",
        f"paths.output_dir={tmp_path / f'run{fid_samples}'}"])
    run_cfg(cfg)
    run = tmp_path / f"run{fid_samples}"
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    logged = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    weights = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    return [json.loads(line) for line in curve.read_text().splitlines()], logged, weights


def test_learning_curve_records_each_epochs_own_metrics_and_fid_leaves_training_alone(make_cfg, tmp_path):
    """Point k of the curve carries epoch k's validation loss (as the logger has it), and recording FID after each
    validation neither needs a second fit nor moves the run's random stream: the weights end the same."""
    points, logged, weights = _fit_with_curve(make_cfg, tmp_path, fid_samples=0)
    assert [p["epoch"] for p in points] == [1, 2]
    assert [p["val/loss"] for p in points] == pytest.approx(logged)
    with_fid, logged_fid, weights_fid = _fit_with_curve(make_cfg, tmp_path, fid_samples=64)
    assert all(p["val/fid/classifier"] == p["val/fid/classifier"] >= 0 for p in with_fid)  # a number, not NaN
    assert logged_fid == pytest.approx(logged)
    for key, value in weights.items():
        torch.testing.assert_close(weights_fid[key], value)


def test_every_bench_row_composes_with_its_curve(tmp_path):
    """Each row's training overrides (recipe, budget, curve callback and its evaluation parts) make a valid run
    config, and the curve's parts and headline keys name things the evaluation has: a typo fails here, not an hour
    into `make bench`."""
    from argparse import Namespace

    from hydra.utils import instantiate

    from benchmarks.report import ROWS, train_overrides
    from lightning_ae.evaluation.suite import part

    args = Namespace(data_dir=str(tmp_path), max_minutes=None)
    for row in ROWS["cpu"] + ROWS["gpu"]:
        cfg = compose(train_overrides(row, args, tmp_path / "curve.jsonl"), output_dir=str(tmp_path))
        curve = instantiate(cfg.callbacks.curve)
        assert cfg.trainer.max_epochs == row.epochs and curve.parts == list(row.curve_parts)
        for name in curve.parts:
            part(name)  # an unknown part is a UserError


def test_a_resumed_curve_continues_its_clock(tmp_path):
    """`report.py --extend` resumes a row's run: the curve appends, and its minutes of fit go on from the last
    point instead of restarting at 0."""
    import time

    from benchmarks.curve import LearningCurve

    path = tmp_path / "curve.jsonl"
    path.write_text(json.dumps({"seconds": 100.0, "epoch": 3, "step": 30}) + "\n")
    curve = LearningCurve(str(path))
    curve.on_fit_start(None, None)
    assert time.perf_counter() - curve._start == pytest.approx(100.0, abs=1.0)
    fresh = LearningCurve(str(tmp_path / "new.jsonl"))
    fresh.on_fit_start(None, None)
    assert time.perf_counter() - fresh._start == pytest.approx(0.0, abs=1.0)


def test_an_extended_row_keeps_the_loop_its_checkpoint_was_trained_with(tmp_path):
    """`--extend` resumes with the checkpoint's model.fused_steps (rows trained before fused steps took one step
    per call), since a resume across the two loops is refused."""
    import torch

    from benchmarks.report import same_loop

    ckpt = tmp_path / "last.ckpt"
    assert same_loop(ckpt) == []  # nothing to resume
    torch.save({"lightning_ae": {"config": {"model": {"_target_": "x"}}}}, ckpt)
    assert same_loop(ckpt) == ["++model.fused_steps=1"]
    torch.save({"lightning_ae": {"config": {"model": {"fused_steps": 10}}}}, ckpt)
    assert same_loop(ckpt) == ["++model.fused_steps=10"]


def test_lockstep_turns_alternate_and_never_overlap(tmp_path):
    """overhead.py's lockstep row: two processes under benchmarks/turns.py work one at a time, start-up, each
    marked phase and the rest in alternation, beginning with the side given the first turn."""
    from benchmarks.turns import SIDES, run_in_lockstep

    script = tmp_path / "phases.py"
    script.write_text("import sys, time\nturns = sys.modules['benchmarks.turns']\n"
                      "for _ in range(3):\n    time.sleep(0.05)\n    turns.epoch_boundary()\ntime.sleep(0.05)\n")
    spans = run_in_lockstep({side: [str(script)] for side in SIDES}, tmp_path / "turns", first="plain")
    assert {side: len(s) for side, s in spans.items()} == {"framework": 4, "plain": 4}  # start-up, 2 phases, rest
    turns = sorted((start, end, side) for side, s in spans.items() for start, end in s)
    assert [side for *_, side in turns] == ["plain", "framework"] * 4
    assert all(end <= next_start for (_, end, _), (next_start, _, _) in zip(turns, turns[1:]))
    assert all(end - start >= 0.05 for start, end, _ in turns)
