"""The benchmark scripts' own logic (never timings): the twins compute the models' losses, and the import
audit reads `-X importtime` reports correctly."""
from __future__ import annotations

import copy
from pathlib import Path
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
        budget = {"batches": 5000, "epochs": 3, "cpu_seconds": 60.0} if row.cpu_seconds or row.cpu_budget_from else None
        cfg = compose(train_overrides(row, args, tmp_path / "curve.jsonl", seed=2, budget=budget),
                      output_dir=str(tmp_path))
        curve = instantiate(cfg.callbacks.curve)
        assert cfg.seed == 2
        assert cfg.trainer.max_steps == (5000 if budget else -1)
        assert cfg.trainer.max_epochs == (3 if budget else row.epochs) and curve.parts == list(row.curve_parts)
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


# -- the reproduction protocol (benchmarks/protocol.py, report.py): fake results, no training --------------------
def _row(**kw):
    from benchmarks.report import Row

    base = dict(name="a", paper="p", claim="c", train=["experiment=x"], epochs=1, minutes=1.0,
                headline=("m", "metric"), target=("<", "b:m"))
    return Row(**{**base, **kw})


def _result(values, key="m", **extra):
    from benchmarks.protocol import aggregate

    seeds = {str(i): {"status": "ok", "metrics": {key: v, **extra}} for i, v in enumerate(values)}
    means, sds = aggregate([s["metrics"] for s in seeds.values()])
    return {"status": "ok", "seeds": seeds, "metrics": means, "metrics_sd": sds, "commit": "abc"}


@pytest.mark.parametrize("a, b, want", [
    ([1.0, 1.1, 1.2], [2.0, 2.1, 2.2], "reproduced (every seed agrees)"),
    # seeds overlap (1.9 > 1.8) but the means differ by 0.95 with a standard error of 0.17
    ([1.0, 1.1, 1.9], [1.8, 2.5, 2.6], "reproduced (gap > 2 standard errors)"),
    # means in order, seeds overlap, gap 0.1 within 2·SE
    ([1.0, 2.0, 3.0], [1.2, 2.1, 3.0], "short: "),
    ([3.0, 3.1, 3.2], [2.0, 2.1, 2.2], "short: "),
    ([1.0], [2.0, 2.1, 2.2], "met, not yet reproduced under the protocol (1 seed on a side of a comparison"),
    # a shortfall on one seed is reported, but as unconfirmed: seeds could still reverse it
    ([2.5], [2.0, 2.1, 2.2], "short, not yet confirmed under the protocol (1 seed on a side of a comparison; "
                             "needs ≥ 3 seeds): "),
])
def test_a_comparative_row_is_reproduced_only_on_every_seed_or_two_standard_errors(a, b, want):
    from benchmarks.protocol import verdict

    results = {"a": _result(a), "b": _result(b)}
    assert verdict(_row(), results["a"], results).startswith(want)


def test_the_standard_error_is_that_of_the_difference_of_two_means():
    """√(sd_a²/n_a + sd_b²/n_b): with sd 0.1 and 3 seeds each, 2 SE = 0.163; a gap of 0.2 (seeds overlapping)
    passes, 0.15 does not."""
    from benchmarks.protocol import verdict

    for shift, want in [(0.2, "reproduced (gap"), (0.15, "short")]:
        b = [1.0 + shift - 0.1, 1.0 + shift, 1.0 + shift + 0.1]
        results = {"a": _result([0.9, 1.0, 1.1]), "b": _result(b)}
        assert verdict(_row(), results["a"], results).startswith(want), shift


def test_a_headline_near_its_threshold_needs_seeds_and_a_wide_gap_may_stand_on_one():
    from benchmarks.protocol import verdict

    near = _row(target=("<=", 89.0))
    assert "not yet reproduced under the protocol (1 seed, within 5% of the threshold" in \
        verdict(near, _result([88.5]), {})
    assert verdict(near, _result([80.0]), {}) == "reproduced (one seed)"  # 10 % below: a threshold claim
    assert verdict(near, _result([88.0, 88.5, 88.7]), {}) == "reproduced (every seed agrees)"
    margin = _row(single_seed_margin=2.0)  # nvae_small: seeds only if the gap is under 2 nats
    assert verdict(margin, _result([90.0]), {"b": _result([93.0])}) == "reproduced (one seed)"
    assert "not yet" in verdict(margin, _result([90.0]), {"b": _result([91.0])})


def test_fids_from_different_classifiers_or_sample_counts_are_not_compared():
    from benchmarks.protocol import verdict

    row = _row(headline=("fid/classifier", "FID"), target=("<", "b:fid/classifier"))
    a = _result([10.0, 11.0, 12.0], key="fid/classifier", **{"fid/classifier_id": 7.0, "fid/samples": 10000.0})
    for other, want in [({"fid/classifier_id": 7.0, "fid/samples": 10000.0}, "reproduced (every seed agrees)"),
                        ({"fid/classifier_id": 8.0, "fid/samples": 10000.0}, "different FID classifiers"),
                        ({"fid/classifier_id": 7.0, "fid/samples": 2000.0}, "FID of 10000 against 2000 samples"),
                        ({"fid/samples": 10000.0}, "not recorded")]:
        results = {"a": a, "b": _result([20.0, 21.0, 22.0], key="fid/classifier", **other)}
        got = verdict(row, a, results)
        assert want in got and (got.startswith("not comparable") or want.startswith("reproduced"))
    assert verdict(row, a, {"a": a}) == "incomplete: no b:fid/classifier to compare with (run b)"


def test_stale_results_and_the_dirty_tree(monkeypatch, capsys):
    from benchmarks import protocol, report

    row = _row()
    monkeypatch.setattr(protocol, "changed_since", lambda c: {"abc": (), "old": ("lightning_ae/x.py",)}.get(c))
    assert protocol.stale(row, {"commit": "abc", "row_spec": protocol.row_spec(row)}) is None
    assert "1 file that compute" in protocol.stale(row, {"commit": "old"})
    assert "modified tree" in protocol.stale(row, {"commit": "abc+dirty"})
    assert "not in this repository" in protocol.stale(row, {"commit": "zzz"})
    assert "recipe, budget or evaluation changed" in protocol.stale(row, {"commit": "abc", "row_spec": "other"})
    assert protocol.stale(row, {"commit": "old"}, git=False) is None  # the README leaves HEAD's files to RESULTS.md
    monkeypatch.setattr(report, "commit", lambda: "abc+dirty")
    monkeypatch.setattr(report, "run_row", lambda *a, **k: pytest.fail("ran a row on a dirty tree"))
    with pytest.raises(SystemExit) as exit_:
        report.main(["--rows", "ae30"])
    assert exit_.value.code == 2 and capsys.readouterr().err.startswith("error: the code has uncommitted changes")


def test_launcher_and_fault_files_leave_a_row_current(monkeypatch, tmp_path):
    """A change to a file that only decides where a run writes or what it refuses (NOT_COMPUTATION) keeps a row's
    result current; a change to a model, or to train.py, makes it stale."""
    import subprocess

    from benchmarks import protocol

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    for name in ("lightning_ae/run_dir.py", "lightning_ae/train.py", "lightning_ae/models/ae.py", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "row")
    row_commit = git("rev-parse", "--short", "HEAD")
    monkeypatch.setattr(protocol, "ROOT", tmp_path)

    def changed_after(*edits):
        for name in edits:
            (tmp_path / name).write_text("x = 2\n")
        git("commit", "-qam", "change")
        protocol.changed_since.cache_clear()
        return protocol.changed_since(row_commit)

    assert changed_after("lightning_ae/run_dir.py", "README.md") == ()
    assert changed_after("lightning_ae/train.py") == ("lightning_ae/train.py",)
    assert changed_after("lightning_ae/models/ae.py") == ("lightning_ae/models/ae.py", "lightning_ae/train.py")
    protocol.changed_since.cache_clear()


def test_comments_and_docstrings_leave_a_row_current(monkeypatch, tmp_path):
    """Staleness and the computation fingerprint follow what a file computes: a comment, a docstring or a reflowed
    line in Python or YAML changes neither; a value, a statement or Hydra's `# @package` line changes both."""
    import subprocess

    from benchmarks import protocol

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    files = {"lightning_ae/train.py": '"""Train."""\ndef fit(x):\n    """Fit."""\n    return x + 1  # one\n',
             "conf/model/ae.yaml": "# @package _global_\n# the AE\nmodel:\n  lr: 0.001  # Adam\n  depth: [1, 2]\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "row")
    row_commit = git("rev-parse", "--short", "HEAD")
    monkeypatch.setattr(protocol, "ROOT", tmp_path)

    def after(name, text):
        (tmp_path / name).write_text(text)
        git("commit", "-qam", "edit")
        protocol.changed_since.cache_clear()
        protocol.computation.cache_clear()
        return protocol.changed_since(row_commit), protocol.computation(git("rev-parse", "--short", "HEAD"))

    fingerprint = protocol.computation(row_commit)
    assert fingerprint is not None
    same = after("lightning_ae/train.py", '"""Train, documented anew."""\n\n\ndef fit(x):\n    return (x\n'
                                          '            + 1)  # another comment\n')
    assert same == ((), fingerprint)
    assert after("conf/model/ae.yaml", "# @package _global_\nmodel:  # reworded\n  lr: 1.0e-3\n  depth:\n"
                                       "    - 1\n    - 2\n") == ((), fingerprint)
    changed, other = after("conf/model/ae.yaml", "# @package model\nmodel:\n  lr: 1.0e-3\n  depth: [1, 2]\n")
    assert changed == ("conf/model/ae.yaml",) and other != fingerprint
    changed, third = after("lightning_ae/train.py", "def fit(x):\n    return x + 2\n")
    assert changed == ("conf/model/ae.yaml", "lightning_ae/train.py") and third not in (fingerprint, other)
    protocol.changed_since.cache_clear()
    protocol.computation.cache_clear()


def _fake_runs(monkeypatch, tmp_path, metric_of_seed, fit_cpu=120.0):
    """report.run without subprocesses: training writes a curve and a checkpoint, evaluation an eval.json."""
    from benchmarks import report

    calls = []

    def fake_run(cmd, log):
        calls.append(cmd)
        out = Path(next(c for c in cmd if c.startswith("hydra.run.dir=")).split("=", 1)[1])
        if cmd[2] == "lightning_ae":
            seed = int(next(c for c in cmd if c.startswith("seed=")).split("=")[1])
            curve = Path(next(c for c in cmd if c.startswith("+callbacks.curve.path=")).split("=", 1)[1])
            curve.write_text(json.dumps({"seconds": 60.0, "cpu_seconds": fit_cpu + seed, "threads": 1, "epoch": 1,
                                         "step": 100}) + "\n")
            (out / "checkpoints").mkdir(parents=True)
            (out / "checkpoints" / "last.ckpt").write_text("x")
        else:
            seed = int(out.parent.name[4:]) if out.parent.name.startswith("seed") else 0
            out.mkdir(parents=True)
            (out / "eval.json").write_text(json.dumps({
                "metrics": {"m": metric_of_seed(seed)},
                "evaluation": {"is_samples": 1000, "likelihood_max_images": None, "fid": {"num_samples": 10000}}}))
        log.write_text("done\n")
        return 0, 1.0, 5.0

    monkeypatch.setattr(report, "run", fake_run)
    monkeypatch.setattr(report, "commit", lambda: "abc")
    return calls


def test_a_row_runs_each_seed_and_reports_mean_sd_and_cpu_seconds_per_step(monkeypatch, tmp_path):
    from argparse import Namespace

    from benchmarks import report

    calls = _fake_runs(monkeypatch, tmp_path, lambda seed: 1.0 + seed)
    args = Namespace(runs_dir=str(tmp_path), data_dir="d", max_minutes=None, eval_only=False, extend=False)
    got = report.run_row(_row(seeds=(0, 1, 2)), "cpu", args, results={})
    assert [c for c in calls[0] if c.startswith("seed=")] == ["seed=0"] and len(calls) == 6
    assert set(got["seeds"]) == {"0", "1", "2"} and got["status"] == "ok"
    assert got["metrics"]["m"] == pytest.approx(2.0) and got["metrics_sd"]["m"] == pytest.approx(1.0)
    assert got["fit_cpu_s"] == pytest.approx(121.0) and got["cpu_s_per_step"] == pytest.approx(1.21)
    assert got["seeds"]["2"]["fit_cpu_s"] == 122.0 and got["seeds"]["1"]["train_cpu_s"] == 5.0
    assert got["evaluation_settings"]["is_samples"] == 1000 and got["evaluation_settings"]["fid_num_samples"] == 10000
    assert (tmp_path / "cpu" / "a" / "seed2" / "curve.jsonl").is_file()  # seed 0 keeps the row's own folder


def test_equal_compute_is_the_other_rows_epochs_at_quiet_cpu_seconds_per_batch(monkeypatch, tmp_path):
    """vaegan_vae trains for the batches that take VAE-GAN's 22 epochs of quiet CPU-seconds: 22 × 430 batches ×
    0.2 s = 1,892 s, at 0.02 s a batch 94,600 batches, which fill 220 of its 430-batch epochs. A calibration missing,
    or measured by other code, or of a recipe with several optimizer steps a batch, runs nothing."""
    from argparse import Namespace

    from benchmarks import calibrate, report

    calls = _fake_runs(monkeypatch, tmp_path, lambda seed: 1.0)
    monkeypatch.setattr(report, "computation", lambda commit: "fp")
    args = Namespace(runs_dir=str(tmp_path), data_dir="d", max_minutes=None, eval_only=False, extend=False, seeds=(0,))
    row = next(r for r in report.ROWS_CPU if r.name == "vaegan_vae")
    entry = {"computation": "fp", "steps_per_batch": 1.0, "batches_per_epoch": 430}
    table = {"vaegan": entry | {"cpu_s_per_batch": 0.2, "steps_per_batch": 3.0}, "vaegan_vae": entry | {"cpu_s_per_batch": 0.02}}
    for broken in ({"vaegan_vae": table["vaegan_vae"]}, {**table, "vaegan": table["vaegan"] | {"computation": "old"}}):
        monkeypatch.setattr(calibrate, "load", lambda broken=broken: broken)
        assert "needs a quiet calibration of vaegan at this code" in report.run_row(row, "cpu", args, results={})["status"]
    monkeypatch.setattr(calibrate, "load", lambda: {**table, "vaegan_vae": table["vaegan_vae"] | {"steps_per_batch": 2.0}})
    assert "batches cannot hold its budget" in report.run_row(row, "cpu", args, results={})["status"]
    assert not calls
    monkeypatch.setattr(calibrate, "load", lambda: table)
    got = report.run_row(row, "cpu", args, results={})
    assert "trainer.max_steps=94600" in calls[0] and "trainer.max_epochs=220" in calls[0]
    assert got["cpu_seconds_budget"] == pytest.approx(22 * 430 * 0.2) and got["batches_budget"] == 94600
    assert got["calibration"] == table


def test_equal_compute_counts_only_the_optional_steps_a_run_took(monkeypatch, tmp_path):
    """VAE-GAN's decoder and discriminator may skip their steps. Calibrated at 0.2 CPU-s a batch with every step,
    the decoder's step costs 0.05 and the discriminator's 0.12; its two seeds took the decoder step on 100 % and 90 %
    of their batches and the discriminator's on 30 % and 50 % (read from their CSV logs), so a batch of theirs cost
    0.2 − 0.05 × (1 − 0.95) − 0.12 × (1 − 0.4) = 0.1255, 22 epochs of 430 batches 1,187.2 CPU-s, which a VAE at
    0.025 a batch spends in 47,489 batches (111 epochs)."""
    from argparse import Namespace

    from benchmarks import calibrate, report

    calls = _fake_runs(monkeypatch, tmp_path, lambda seed: 1.0)
    monkeypatch.setattr(report, "computation", lambda commit: "fp")
    args = Namespace(runs_dir=str(tmp_path), data_dir="d", max_minutes=None, eval_only=False, extend=False, seeds=(0,))
    row = next(r for r in report.ROWS_CPU if r.name == "vaegan_vae")
    entry = {"computation": "fp", "steps_per_batch": 1.0, "batches_per_epoch": 430}
    monkeypatch.setattr(calibrate, "load", lambda: {
        "vaegan": entry | {"cpu_s_per_batch": 0.2, "step_costs": {"decoder": 0.05, "discriminator": 0.12}},
        "vaegan_vae": entry | {"cpu_s_per_batch": 0.025}})
    assert "needs vaegan's runs" in report.run_row(row, "cpu", args, results={})["status"] and not calls
    seeds = {}
    for seed, (dec, dis) in enumerate([([1.0, 1.0], [0.1, 0.5]), ([0.8, 1.0], [0.5, 0.5])]):
        log = tmp_path / f"vaegan{seed}" / "train" / "csv" / "metrics.csv"
        log.parent.mkdir(parents=True)
        log.write_text("epoch,train/decoder_steps_epoch,train/discriminator_steps_epoch,val/loss\n"
                       f"0,{dec[0]},{dis[0]},\n0,,,3.0\n1,{dec[1]},{dis[1]},\n")
        seeds[str(seed)] = {"status": "ok", "ckpt": str(log.parents[1] / "checkpoints" / "last.ckpt")}
    assert report.step_shares(tmp_path / "vaegan1" / "train") == pytest.approx({"decoder": 0.9, "discriminator": 0.5})
    got = report.run_row(row, "cpu", args, results={"vaegan": {"seeds": seeds}})
    assert got["step_shares_budget"] == pytest.approx({"decoder": 0.95, "discriminator": 0.4})
    assert got["cpu_seconds_budget"] == pytest.approx(22 * 430 * 0.1255) and got["batches_budget"] == 47489
    assert "trainer.max_steps=47489" in calls[0] and "trainer.max_epochs=111" in calls[0]


def test_calibration_is_the_cost_of_the_extra_batches_on_a_quiet_machine(monkeypatch):
    """CPU-seconds per batch from a short and a long run (the fixed start-up cost cancels), the median of the
    repeats; a measurement with other load on the machine is refused with one error line."""
    from benchmarks import calibrate

    row = type("Row", (), {"name": "vae"})()
    costs = iter([0.030, 0.034, 0.031])
    load = {"other": 0.01}

    def fake_run(row, batches, data_dir, workdir, overrides=(), cost={}):
        if batches == 50:
            cost["now"] = next(costs) - {"model.equilibrium=-1": 0.01, "model.equilibrium=100": 0.02}.get(
                overrides[0] if overrides else "", 0.0)
        return {"cpu_seconds": 7.0 + cost["now"] * batches, "batches": batches, "steps": batches,
                "batches_per_epoch": 390, "threads": 1, "other_load": load["other"]}

    got = calibrate.calibrate([row], 50, 250, 3, "d", run=fake_run)["vae"]
    assert got["cpu_s_per_batch"] == pytest.approx(0.031) and got["spread"] == pytest.approx([0.030, 0.034])
    assert got["steps_per_batch"] == 1 and got["batches_per_epoch"] == 390 and got["other_load_max"] == 0.01
    assert "step_costs" not in got
    costs = iter([0.2] * 9)  # VAE-GAN: every step, the decoder's never, the discriminator's never
    optional = calibrate.calibrate([type("Row", (), {"name": "vaegan"})()], 50, 250, 3, "d", run=fake_run)["vaegan"]
    assert optional["cpu_s_per_batch"] == pytest.approx(0.2)
    assert optional["step_costs"] == pytest.approx({"decoder": 0.01, "discriminator": 0.02})
    costs, load["other"] = iter([0.03] * 3), 0.3
    with pytest.raises(SystemExit) as refused:
        calibrate.calibrate([row], 50, 250, 3, "d", run=fake_run)
    assert str(refused.value).startswith("error: the machine was not quiet while calibrating vae")


def test_rows_calibrated_together_share_each_rounds_drift(monkeypatch, tmp_path):
    """The machine's speed drifts: round 1 runs everything 1.3× slower, round 2 0.8×. VAE-GAN truly costs 0.2 CPU-s
    a batch with every step (decoder step 0.05, discriminator step 0.12) and the VAE 0.025. Calibrated together, the
    rows alternate within each round, so every per-round ratio is the true one: at step shares 0.95 and 0.4 a VAE-GAN
    batch is worth 0.1255 / 0.025 = 5.02 VAE batches, and 22 epochs of 430 batches are 47,489 VAE batches, whatever
    the drift. Calibrated one row after the other, VAE-GAN would meet rounds 0 and 1 and the VAE rounds 1 and 2."""
    from argparse import Namespace

    from benchmarks import calibrate, report

    true = {("vaegan", ()): 0.2, ("vaegan", ("model.equilibrium=-1", "model.margin=0")): 0.15,
            ("vaegan", ("model.equilibrium=100", "model.margin=0")): 0.08, ("vaegan_vae", ()): 0.025}
    speed, pairs = [1.0, 1.3, 0.8], {"n": 0}
    rounds = {"n": 0}

    def fake_run(row, batches, data_dir, workdir, overrides=()):
        overrides = tuple(o for o in overrides if o != "model.margin=null")
        cost = true[row.name, overrides] * speed[rounds["n"]]
        if batches == 250:
            pairs["n"] += 1
            rounds["n"] = pairs["n"] // 4  # 4 pairs a round: VAE-GAN's three variants, then the VAE
        return {"cpu_seconds": 5.0 + cost * batches, "batches": batches, "steps": batches * (3 if row.name == "vaegan" else 1),
                "batches_per_epoch": 430, "threads": 1, "other_load": 0.0}

    rows = [next(r for r in report.ROWS_CPU if r.name == n) for n in ("vaegan", "vaegan_vae")]
    table = calibrate.calibrate(rows, 50, 250, 3, "d", run=fake_run)
    assert table["vaegan"]["rounds"]["all"] == pytest.approx([0.2, 0.26, 0.16])
    assert table["vaegan_vae"]["rounds"]["all"] == pytest.approx([0.025, 0.0325, 0.02])
    assert table["vaegan"]["session"] == table["vaegan_vae"]["session"]
    table = {k: v | {"computation": "fp"} for k, v in table.items()}
    calls = _fake_runs(monkeypatch, tmp_path, lambda seed: 1.0)
    monkeypatch.setattr(report, "computation", lambda commit: "fp")
    monkeypatch.setattr(calibrate, "load", lambda: table)
    shares = {"decoder": 0.95, "discriminator": 0.4}
    got = report.run_row(rows[1], "cpu", Namespace(runs_dir=str(tmp_path), data_dir="d", max_minutes=None,
                                                   eval_only=False, extend=False, seeds=(0,)),
                         results={"vaegan": {"seeds": {"0": {"status": "ok", "step_shares": shares}}}})
    assert got["cost_ratio_budget"]["median"] == pytest.approx(5.02) and got["batches_budget"] == 47489
    assert got["cost_ratio_budget"]["spread"] == pytest.approx([5.02, 5.02])
    assert "trainer.max_steps=47489" in calls[0]


def test_the_batch_clock_records_fit_cpu_batches_and_a_full_epoch(tmp_path):
    import json as json_

    import torch

    from benchmarks.calibrate import BatchClock

    dm = type("DM", (), {"splits": {"train": (torch.zeros(1000, 1), None)}, "batch_size": 128,
                         "trained": {"epoch": 0, "batches": 40}})()
    trainer = type("T", (), {"datamodule": dm, "global_step": 40})()
    clock = BatchClock(str(tmp_path / "clock.json"))
    clock.on_fit_start(trainer, None)
    clock.on_train_end(trainer, None)
    facts = json_.loads((tmp_path / "clock.json").read_text())
    assert (facts["batches"], facts["steps"], facts["batches_per_epoch"]) == (40, 40, 7)
    assert 0 <= facts["cpu_seconds"] < 1


def test_a_raised_budget_keeps_the_earlier_result():
    from benchmarks.report import kept_with_earlier

    row = _row(target=("<", 2.0))
    old = {**_result([1.5]), "epochs_budget": 10, "seeds_budget": [0], "date": "d1"}
    new = {**_result([1.2]), "epochs_budget": 20, "seeds_budget": [0]}
    kept = kept_with_earlier(old, new, row, {})
    assert kept["earlier"] == [{"epochs_budget": 10, "minutes_budget": None, "cpu_seconds_budget": None,
                                "seeds_budget": [0], "date": "d1", "commit": "abc", "epochs": None,
                                "headline": 1.5, "verdict": "reproduced (one seed)"}]
    again = kept_with_earlier(kept, {**new, "date": "d2"}, row, {})  # the same budget again: nothing new to keep
    assert again["earlier"] == kept["earlier"]


def test_the_cpu_budget_callback_stops_a_fit_and_the_curve_records_cpu_seconds(tmp_path):
    import time

    from benchmarks.curve import CpuBudget

    class Trainer:
        should_stop = False

    budget, trainer = CpuBudget(seconds=0.05), Trainer()
    budget.on_fit_start(trainer, None)
    budget.on_train_batch_end(trainer, None, None, None, 0)
    assert not trainer.should_stop
    start = time.process_time()
    while time.process_time() - start < 0.06:  # burn CPU, not wall clock
        pass
    budget.on_train_batch_end(trainer, None, None, None, 1)
    assert trainer.should_stop


def test_the_readme_tables_are_the_rendering_of_results_json():
    """README.md's variant column and rows table are generated: rerun `python benchmarks/report.py --render`."""
    from benchmarks.report import README, ROWS, load_results, render_readme

    text = README.read_text()
    assert "<!-- bench:variants -->" in text and "<!-- bench:rows -->" in text
    assert render_readme(text, load_results(), ROWS["cpu"]) == text


def test_the_dae_baseline_recipe_differs_from_the_dae_only_by_the_noise(tmp_path):
    a, b = (compose([f"experiment={e}"], output_dir=str(tmp_path / e)) for e in ("dae_mnist", "ae_dae_baseline"))
    from omegaconf import OmegaConf

    assert a.model._target_.endswith(".DAE") and b.model._target_.endswith(".AE")
    for key in ("data", "optimizer", "model.net", "model.latent_dim", "model.likelihood", "trainer.max_epochs"):
        assert OmegaConf.select(a, key) == OmegaConf.select(b, key), key


def test_every_rows_evaluation_overrides_compose(tmp_path):
    """Each row's `python -m lightning_ae.eval` overrides name settings the evaluation has (a typo fails here)."""
    from tests.conftest import compose_cfg

    from benchmarks.report import ROWS

    for row in ROWS["cpu"]:
        cfg = compose_cfg(["ckpt_path=x.ckpt", *row.evaluation], tmp_path / row.name, config_name="eval")
        if "evaluation.probe.pixels=true" in row.evaluation:
            assert cfg.evaluation.probe.pixels is True
        assert cfg.evaluation.fid.num_samples == 10000  # protocol: FID on 10,000 samples in every row


def test_a_long_row_runs_a_seed_at_a_time_and_its_seeds_join(monkeypatch, tmp_path):
    """`--seeds`: seed 0 first (a partial row, its verdict says so), then seeds 1 and 2 from the same code join it;
    the row is then summed up over all three as if run at once. A seed computed by other code does not join."""
    from argparse import Namespace

    from benchmarks import protocol, report

    _fake_runs(monkeypatch, tmp_path, lambda seed: 1.0 + seed)
    monkeypatch.setattr(protocol, "changed_since", lambda c: {"abc": (), "old": ("lightning_ae/models/ae.py",)}[c])
    row = _row(seeds=(0, 1, 2), target=("<", 10.0))

    def run(seeds, old):
        args = Namespace(runs_dir=str(tmp_path / f"run{len(list(tmp_path.iterdir()))}"), data_dir="d",
                         max_minutes=None, eval_only=False, extend=False, seeds=seeds)
        return report.with_other_seeds(old, report.run_row(row, "cpu", args, results={}), row)

    first = run((0,), None)
    assert set(first["seeds"]) == {"0"} and first["metrics"]["m"] == 1.0
    assert protocol.verdict(row, first, {}) == "partial (1 of 3 seeds; the rest: --seeds 1,2): reproduced (one seed)"
    assert report.short_status(row, first, {"a": first}).startswith(  # the README's words: not bold, whole
        "`a`: partial (1 of 3 seeds; the rest: --seeds 1,2), so far reproduced (one seed), ")
    whole = run((1, 2), first)
    assert set(whole["seeds"]) == {"0", "1", "2"} and whole["seeds"]["0"]["commit"] == "abc"
    assert whole["metrics"]["m"] == pytest.approx(2.0) and whole["metrics_sd"]["m"] == pytest.approx(1.0)
    assert whole["fit_cpu_s"] == pytest.approx(121.0)
    assert protocol.verdict(row, whole, {}) == "reproduced (every seed agrees)"
    again = run((2,), whole)  # a seed run again replaces its earlier run
    assert set(again["seeds"]) == {"0", "1", "2"} and again["metrics"]["m"] == pytest.approx(2.0)
    other_code = run((1, 2), {**first, "commit": "old"})
    assert set(other_code["seeds"]) == {"1", "2"}
    assert protocol.verdict(row, other_code, {}).startswith("partial (2 of 3 seeds; the rest: --seeds 0)")


def test_rows_whose_commits_compute_alike_make_one_table():
    """A row recorded at another commit belongs to the table when its computation fingerprint is the table's, and
    is stale in the README when it differs or was never recorded."""
    from benchmarks import report

    results = {"a": {"commit": "c2", "date": "2026-12-07", "computation": "f1"},
               "b": {"commit": "c2", "date": "2026-12-07", "computation": "f1"},
               "same": {"commit": "c1", "date": "2026-12-06", "computation": "f1"},
               "other": {"commit": "c0", "date": "2026-12-06", "computation": "f0"},
               "unknown": {"commit": "c0", "date": "2026-12-06"}}
    assert report.table_commit(results) == "c2"
    assert [n for n, r in results.items() if report.at_table_commit(r, results)] == ["a", "b", "same"]


def test_the_computation_fingerprint_leaves_out_launcher_and_fault_files():
    from benchmarks import protocol

    assert protocol.computation("HEAD") is not None and protocol.computation("HEAD+dirty") is None
    assert all(path.startswith("lightning_ae/") and (protocol.ROOT / path).is_file()
               for path in protocol.NOT_COMPUTATION)  # a renamed file would silently count again
