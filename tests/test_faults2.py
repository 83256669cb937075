"""Nothing lost, part 2: Ctrl-C saves and says where, a run directory holds one run and serves one process, and
every check runs before the first write (lightning_ae/interrupts.py, lightning_ae/run_dir.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(ROOT)}  # the subprocesses import tests.signal_at
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "evaluation.enabled=false"]
SHORT = ["trainer.max_epochs=1", "data.batch_size=16", "trainer.log_every_n_steps=1", "test=false", *QUIET]


def signal_at(step: int, signum: str = "SIGINT", times: int = 1) -> list[str]:
    return ["+callbacks.signal._target_=tests.signal_at.SignalAt", f"+callbacks.signal.step={step}",
            f"+callbacks.signal.signum={signum}", f"+callbacks.signal.times={times}"]


def one_error_line(res, code: int = 2) -> str:
    lines = [line for line in res.stderr.strip().splitlines() if "srun" not in line]  # Lightning's SLURM hint
    assert res.returncode == code and len(lines) == 1 and lines[0].startswith("error: "), \
        (res.returncode, res.stderr[-3000:])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def history(run: Path, name: str = "metrics.csv") -> list[dict]:
    """The rows of a metrics history, each without its empty cells (a resumed run may add columns)."""
    import csv

    with open(run / "csv" / name, newline="") as fh:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(fh)]




def test_ctrl_c_saves_last_ckpt_names_it_and_exits_130(tmp_path):
    res = run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5)], tmp_path, env=ENV)
    line = one_error_line(res, 130)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert line == f"error: stopped by Ctrl-C at step 5; {last} holds it; rerun the same command with " \
                   "resume=auto to continue"
    assert torch.load(last, weights_only=False, map_location="cpu")["global_step"] == 5
    rows = history(tmp_path / "run")
    assert [int(r["step"]) for r in rows if "train/loss" in r] == [0, 1, 2, 3, 4]
    resumed = run_cli(["hydra.run.dir=run", *SHORT, "resume=auto"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert history(tmp_path / "run")[:len(rows)] == rows  # the history continues


def test_ctrl_c_while_testing_is_one_line_with_status_130(tmp_path):
    """Lightning's stop then comes out of trainer.test, not fit: it used to end the process with status 0."""
    args = ["hydra.run.dir=run", "trainer.max_epochs=1", "data.batch_size=64", "trainer.log_every_n_steps=1", *QUIET,
            "+callbacks.signal._target_=tests.signal_at.SignalAt", "+callbacks.signal.testing=true"]
    line = one_error_line(run_cli(args, tmp_path, env=ENV), 130)
    assert line.startswith("error: stopped by Ctrl-C while testing, after training; the trained weights are in "
                           f"{tmp_path / 'run' / 'checkpoints'}")


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path):
    line = one_error_line(run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5, times=2)], tmp_path, env=ENV), 130)
    assert "stopped at once" in line
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()


def test_resume_without_a_checkpoint_keeps_the_earlier_history(tmp_path):
    """A run killed before its first save: resume=auto starts over, and the killed attempt's rows stay."""
    res = run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5, "SIGKILL")], tmp_path, env=ENV)
    assert res.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    assert not (run / "checkpoints" / "last.ckpt").exists()
    before = (run / "csv" / "metrics.csv").read_bytes()
    resumed = run_cli(["hydra.run.dir=run", *SHORT, "resume=auto"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run / "csv" / "metrics.1.csv").read_bytes() == before
    assert "kept as" in resumed.stdout and "metrics.1.csv" in resumed.stdout
    assert history(run)[0]["step"] == "0"  # the new attempt's own history


def flat_folder(root: Path) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        Image.new("L", (8, 8), color=i * 20).save(root / f"{i}.png")
    return root


# every error path known to end a run early: each one pointed at a finished run must leave it as it was
ERROR_PATHS = {
    "new run over it": ([], "already holds a run (.hydra/config.yaml); add resume=auto"),
    "negative size": (["model.latent_dim=-3"], "latent_dim"),
    "missing folder": (["data=folder", "data.path=nowhere"], "nowhere"),
    "cvae on a flat folder": (["model=cvae", "data=folder", "data.path={flat}", "data.height=8", "data.width=8"],
                              "cvae"),
    "bad learning rate": (["optimizer.lr=-1"], "optimizer: Invalid learning rate"),
    "missing checkpoint": (["ckpt_path=missing.ckpt"], "ckpt_path=missing.ckpt does not exist"),
    "other network": (["model.latent_dim=8", "resume=auto"], "model.*"),
    "unknown option": (["model=nope"], "unknown model 'nope'"),
    "wrong type": (["data.batch_size=many"], "data.batch_size=many has the wrong type"),
    "too many devices": (["trainer.devices=999", "trainer.accelerator=cpu"], "trainer.devices=999"),
    "unknown resume": (["resume=sometimes"], "resume=sometimes is not understood"),
    "missing data": (["data=mnist", "data.download=false", "paths.data_dir=empty"], "paths.data_dir"),
    "unknown trainer option": (["+trainer.fast_run=true"], "fast_run"),
    "new run over it, logging to W&B": (["logger=wandb"], "already holds a run"),
    "other step loop": (["model.fused_steps=1", "resume=auto"], "was trained with model.fused_steps=10"),
}


@pytest.mark.parametrize("case", list(ERROR_PATHS))
def test_every_error_path_leaves_a_finished_run_byte_identical(case, run_copy, tmp_path):
    args, named = ERROR_PATHS[case]
    args = [a.format(flat=flat_folder(tmp_path / "flat")) for a in args]
    before = snapshot(run_copy)
    line = one_error_line(run_cli([f"hydra.run.dir={run_copy}", *args, *QUIET], tmp_path))
    assert named in line
    assert snapshot(run_copy) == before


def test_a_second_process_on_a_run_dir_is_one_line_naming_the_holder(run_copy, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from lightning_ae.run_dir import claim; "
                               "claim(sys.argv[1], resuming=True); print('held', flush=True); time.sleep(600)",
                               str(run_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_copy)
        line = one_error_line(run_cli([f"hydra.run.dir={run_copy}", "resume=auto", *SHORT], tmp_path))
        assert f"is in use by another run (process {holder.pid})" in line
        assert snapshot(run_copy) == before
    finally:
        holder.kill()
        holder.wait()
    res = run_cli([f"hydra.run.dir={run_copy}", "resume=auto", *SHORT], tmp_path)  # a dead holder: no obstacle
    assert res.returncode == 0, res.stderr[-2000:]


def test_a_killed_run_leaves_no_obstacle(tmp_path):
    res = run_cli(["hydra.run.dir=run", *SHORT, *signal_at(5, "SIGKILL"), "callbacks.last_checkpoint.every_n_train_steps=2"],
                  tmp_path, env=ENV)
    assert res.returncode == -signal.SIGKILL and (tmp_path / "run" / ".lock.pid").is_file()
    res = run_cli(["hydra.run.dir=run", *SHORT, "resume=auto"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.slow
def test_ddp_ranks_share_the_run_lock(tmp_path):
    res = run_cli(["hydra.run.dir=run", "trainer.max_steps=3", "trainer.devices=2", "trainer.strategy=ddp",
                   "trainer.accelerator=cpu", *SHORT], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / ".lock.pid").read_text().strip().isdigit()


@pytest.mark.slow
def test_ctrl_c_under_ddp_stops_every_rank_at_one_batch_and_resumes_exactly(tmp_path):
    """A terminal's Ctrl-C reaches every rank. The ranks agree on the batch to stop at, save it, and exit 130 with
    one line; the resumed run ends with the weights and the history of a run never interrupted."""
    ddp = ["trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu", "trainer.max_steps=12", *SHORT]
    whole = run_cli(["hydra.run.dir=whole", *ddp], tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    res = run_cli(["hydra.run.dir=run", *ddp, *signal_at(5), "+callbacks.signal.group=true"], tmp_path, env=ENV,
                  own_group=True)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert one_error_line(res, 130) == f"error: stopped by Ctrl-C at step 5; {last} holds it; rerun the same " \
                                       "command with resume=auto to continue"
    assert torch.load(last, weights_only=False, map_location="cpu")["global_step"] == 5
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # no epoch checkpoint of a cut epoch
    resumed = run_cli(["hydra.run.dir=run", *ddp, "resume=auto"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    weights = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")["state_dict"]
               for d in (tmp_path / "whole", tmp_path / "run")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    steps = [[r for r in history(tmp_path / d) if "train/loss" in r] for d in ("whole", "run")]
    assert len(steps[0]) == 12 and steps[1] == steps[0]  # (an epoch's mean covers the batches since the resume)


def test_an_unwritable_run_dir_is_one_line(tmp_path, monkeypatch):
    """As root every folder is writable, so the permission is stubbed: the check asks os.access."""
    from lightning_ae.cli import check_overrides
    from lightning_ae.errors import UserError

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    with pytest.raises(UserError, match=f"{locked} is not writable by this user"):
        check_overrides([f"hydra.run.dir={locked / 'run'}"])


def test_an_unwritable_launch_folder_is_one_line(tmp_path, monkeypatch):
    """No hydra.run.dir: Hydra would make outputs/ in the launch folder (or below paths.log_dir), so that folder is
    checked, for runs and for sweeps; an explicit run directory elsewhere is not held back by it."""
    from lightning_ae.cli import check_overrides
    from lightning_ae.errors import UserError

    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.chdir(locked)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p).absolute() == locked else real(p, mode))
    for args, given, hint in [([], "paths.log_dir=outputs", "hydra.run.dir"),
                              (["-m", "seed=0,1"], "paths.log_dir=outputs", "hydra.sweep.dir"),
                              (["paths.log_dir=logs"], "paths.log_dir=logs", "hydra.run.dir")]:
        with pytest.raises(UserError) as err:
            check_overrides(args)
        assert str(err.value) == f"{given}: {locked} is not writable by this user; run from a folder you can " \
                                 f"write, or set paths.log_dir=... or {hint}=..."
    check_overrides([f"hydra.run.dir={tmp_path / 'elsewhere'}"])
    check_overrides(["-m", f"hydra.sweep.dir={tmp_path / 'elsewhere'}"])
    check_overrides([f"paths.log_dir={tmp_path / 'logs'}"])


def image_folder(root: Path, shade: int) -> Path:
    from PIL import Image

    for k in range(2):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
        for i in range(10):
            Image.new("L", (8, 8), color=(shade + 7 * i + 50 * k) % 256).save(root / f"c{k}" / f"{i}.png")
    return root


def test_resume_on_other_images_of_the_same_shape_is_one_line(tmp_path):
    """Two folders of as many 8x8 images: the same data source, split sizes and shape; only the images differ."""
    first, other = image_folder(tmp_path / "a", 0), image_folder(tmp_path / "b", 100)
    data = ["data=folder", "data.height=8", "data.width=8", "data.channels=1", "data.num_classes=2",
            "data.batch_size=4", "data.val_size=4", "test=false", *QUIET]
    assert run_cli(["hydra.run.dir=run", f"data.path={first}", "trainer.max_epochs=1", *data], tmp_path).returncode == 0
    run = tmp_path / "run"
    before = snapshot(run)
    line = one_error_line(run_cli(["hydra.run.dir=run", f"data.path={other}", "resume=auto", "trainer.max_epochs=2",
                                   *data], tmp_path))
    assert line.startswith(f"error: ckpt_path={run / 'checkpoints' / 'last.ckpt'} was trained on other data: "
                           f"the images differ (trained on {first}, now {other})")
    assert "resume_on_other_data=true" in line and snapshot(run) == before
    res = run_cli(["hydra.run.dir=run", f"data.path={other}", "resume=auto", "resume_on_other_data=true",
                   "trainer.max_epochs=2", *data], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["lightning_ae"]["data"]["path"] == str(other)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the advice for a machine without a GPU")
def test_gpus_asked_on_a_machine_without_one_advise_the_cpu(tmp_path):
    line = one_error_line(run_cli(["trainer.devices=2", "trainer.accelerator=gpu"], tmp_path))
    assert line == "error: trainer.accelerator=gpu but this machine has no GPU; use trainer.accelerator=cpu " \
                   "(trainer.devices=2 then starts 2 CPU processes)"


def test_a_failed_build_names_its_cause(tmp_path):
    line = one_error_line(run_cli(["model.latent_dim=1000000000"], tmp_path))
    assert line.startswith("error: cannot build `model` from the config: RuntimeError: ") and "allocate" in line
    assert not (tmp_path / "outputs" / "train" / "runs").exists() or \
        not any((tmp_path / "outputs" / "train" / "runs").iterdir())  # nothing left behind


def test_a_batch_larger_than_the_training_set_is_one_warning(tmp_path):
    from tests.conftest import compose_cfg
    from lightning_ae.building import build

    dm = build(compose_cfg([], tmp_path), "data")
    dm.setup("fit")
    n = len(dm.splits["train"][0])
    res = run_cli(["data.batch_size=100000", "trainer.fast_dev_run=true", *QUIET], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    said = [line for line in res.stdout.splitlines() if "data.batch_size" in line]
    assert len(said) == 1 and said[0].endswith(f"data.batch_size=100000 is larger than the training set ({n} "
                                               f"images): every epoch is a single batch of {n}; lower data.batch_size")


def test_eval_without_a_checkpoint_writes_nothing(tmp_path):
    assert "ckpt_path=" in one_error_line(run_cli([], tmp_path, module="lightning_ae.eval"))
    runs = tmp_path / "outputs" / "eval" / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_the_readme_test_folder_recipe_scores_the_test_folder(tmp_path):
    """A checkpoint trained on data.path=<root> with train/ and test/ inside, evaluated as the README says with
    data.path=<root>/test: the test split is that folder, and the classes stay those of <root>/train."""
    from omegaconf import OmegaConf

    from lightning_ae.building import build, stored_data_config
    from tests.conftest import compose_cfg

    root = tmp_path / "images"
    image_folder(root / "train", 0), image_folder(root / "test", 100)
    trained = compose_cfg(["data=folder", f"data.path={root}", "data.height=8", "data.width=8", "data.channels=1",
                           "data.num_classes=2"], tmp_path)
    stored = {"data": OmegaConf.to_container(trained.data, resolve=True)}
    given = compose_cfg([f"data.path={root / 'test'}"], tmp_path, config_name="eval").data
    dm = build(OmegaConf.create({"data": stored_data_config(stored, given)}), "data")
    dm.setup("test")
    assert dm.classes == ["c0", "c1"]
    assert len(dm.splits["test"][0]) == 20 and len(dm.splits["train"][0]) + len(dm.splits["val"][0]) == 20
    assert float(dm.splits["test"][0][0].float().mean()) == 100.0  # the test folder's first image (shade 100)


def test_a_link_back_up_in_a_data_folder_is_not_a_class(tmp_path):
    from datamodules.folder import FolderDataModule

    flat = flat_folder(tmp_path / "flat")
    (flat / "self").symlink_to(".")
    dm = FolderDataModule(path=str(flat), channels=1, height=8, width=8, batch_size=4, val_size=2)
    dm.setup("fit")
    assert dm.classes == [] and sum(len(s[0]) for s in dm.splits.values()) == 12
