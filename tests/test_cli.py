"""Bad input: one clear line on stderr, exit status 2, nothing already written lost."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from tests.conftest import only_run_dir, run_cli

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def one_line_error(res, *needles):
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [l for l in res.stderr.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("group,bad,valid", [("model", "vea", "vae"), ("data", "mnsit", "mnist"),
                                             ("trainer", "gpus", "ddp_spawn")])
def test_unknown_group_option_lists_the_valid_ones(tmp_path, group, bad, valid):
    one_line_error(run_cli([f"{group}={bad}"], tmp_path), f"unknown {group} '{bad}'", valid)


def test_unknown_option_in_a_multirun_list(tmp_path):
    one_line_error(run_cli(["-m", "model=ae,vea"], tmp_path), "unknown model 'vea'")


@pytest.mark.parametrize("arg", ["trainer.max_epoch=3", "+trainer.max_epoch=3"])
def test_misspelt_trainer_argument_gets_the_nearest_names(tmp_path, arg):
    line = one_line_error(run_cli([arg], tmp_path), "unknown trainer option 'max_epoch'; did you mean max_epochs")
    assert "limit_train_batches" not in line  # the nearest names, not the whole list


def test_trainer_argument_with_a_needless_plus(tmp_path):
    one_line_error(run_cli(["+trainer.max_epochs=3"], tmp_path), "set it without the plus, trainer.max_epochs=")


def test_trainer_logger_points_to_the_logger_group(tmp_path):
    one_line_error(run_cli(["trainer.logger=false"], tmp_path), "trainer.logger is not set through", "logger=csv")


@pytest.mark.parametrize("arg,hint", [("trainer.gradient_clip_val=0.5", "use model.grad_clip=0.5"),
                                     ("trainer.accumulate_grad_batches=2", "data.batch_size")])
def test_automatic_optimization_option_on_an_adversarial_model(tmp_path, arg, hint):
    one_line_error(run_cli(["model=acai", arg], tmp_path), f"ACAI steps its optimizers itself, so {arg.split('=')[0]}",
                   hint)


@pytest.fixture
def clipped_acai_experiment():
    """An experiment, as a user would write in conf/experiment/, that sets trainer.gradient_clip_val for ACAI."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(group="experiment", name="clipped_acai", package="_global_",
                node={"defaults": [{"override /model": "acai"}, "_self_"], "trainer": {"gradient_clip_val": 0.5}})
    yield "experiment=clipped_acai"
    del store.repo["experiment"]["clipped_acai.yaml"]


def test_automatic_optimization_option_from_an_experiment_yaml(clipped_acai_experiment):
    """Only group overrides on the command line: the check reads the composed config, not the arguments."""
    from lightning_ae.cli import check_values
    from lightning_ae.errors import UserError

    with pytest.raises(UserError, match="ACAI steps its optimizers itself, so trainer.gradient_clip_val would not "
                                        "apply: use model.grad_clip=0.5"):
        check_values([clipped_acai_experiment])


@pytest.mark.parametrize("arg", ["trainer.devices=auto", "trainer.devices=[0]", "trainer.fast_dev_run=3",
                                 "trainer.deterministic=warn", "trainer.overfit_batches=2"])
def test_trainer_values_lightning_takes_pass_the_type_check(arg):
    """A trainer option's type is Lightning's annotation (devices: list[int] | str | int), not the YAML default's."""
    from lightning_ae.cli import check_values

    check_values([arg])


def test_keys_whose_default_is_a_hydra_interpolation_pass_the_check(tmp_path):
    """paths.output_dir defaults to ${hydra:runtime.output_dir}, which only resolves inside a running job: the
    check of the command line must not resolve it (it used to raise a bare InterpolationResolutionError)."""
    from lightning_ae.cli import check_values

    check_values([f"paths.output_dir={tmp_path}", "trainer.max_epochs=1"])


@pytest.mark.parametrize("arg, takes", [("trainer.max_epochs=abc", "an integer"),
                                        ("trainer.enable_progress_bar=3", "true/false")])
def test_trainer_values_lightning_refuses_are_one_line(arg, takes):
    from lightning_ae.cli import check_values
    from lightning_ae.errors import UserError

    with pytest.raises(UserError, match=f"has the wrong type: {arg.split('=')[0]} takes {takes}"):
        check_values([arg])


def test_checks_leave_lightning_unimported(tmp_path):
    """Imported before Hydra sets up logging, Lightning would print to stderr through a handler of its own."""
    code = ("import sys; from lightning_ae.cli import check_overrides, check_values; "
            "args = ['model=acai', 'trainer.limit_train_batches=2']; check_overrides(args); check_values(args); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytorch_lightning', 'lightning_fabric')))")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr[-2000:] + res.stdout


def test_any_trainer_argument_works_without_plus(trained_ae):
    assert torch.load(trained_ae, weights_only=False)["global_step"] == 2  # trainer.limit_train_batches=2


def test_wrong_value_type(tmp_path):
    one_line_error(run_cli(["trainer.max_epochs=three"], tmp_path), "trainer.max_epochs takes an integer")


@pytest.mark.parametrize("value", ["0", "-4"])
def test_non_positive_latent_size(tmp_path, value):
    one_line_error(run_cli([f"model.latent_dim={value}"], tmp_path), "model.latent_dim must be a positive integer")


def test_more_devices_than_the_machine_has(tmp_path):
    one_line_error(run_cli(["trainer.accelerator=cpu", "trainer.devices=4096"], tmp_path), "trainer.devices=4096")


def test_empty_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    one_line_error(run_cli(["data=folder", f"data.path={tmp_path / 'imgs'}", *QUIET], tmp_path), "no image files")


def test_folder_with_only_unreadable_images(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(b"nope")
    one_line_error(run_cli(["data=folder", f"data.path={tmp_path / 'imgs'}", *QUIET], tmp_path), "could be read")


@pytest.fixture(scope="module")
def trained_ae(tmp_path_factory):
    """last.ckpt of a 1-epoch AE run on digits, 2 training batches."""
    cwd = tmp_path_factory.mktemp("ae")
    res = run_cli(["trainer.max_epochs=1", "trainer.limit_train_batches=2", "test=false", *QUIET], cwd)
    assert res.returncode == 0, res.stderr[-2000:]
    return only_run_dir(cwd / "outputs") / "checkpoints" / "last.ckpt"


def test_corrupt_checkpoint_is_reported_and_left_alone(tmp_path, trained_ae):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(trained_ae.read_bytes()[:1000])  # a truncated write
    before = bad.read_bytes()
    one_line_error(run_cli([f"ckpt_path={bad}"], tmp_path), "is not a readable checkpoint")
    assert bad.read_bytes() == before


def test_checkpoint_of_another_model(tmp_path, trained_ae):
    copy = tmp_path / "ae.ckpt"
    shutil.copy(trained_ae, copy)
    one_line_error(run_cli(["model=vae", f"ckpt_path={copy}"], tmp_path), "holds a AE checkpoint", "model=")
    torch.load(copy, weights_only=False)  # still intact


def test_foreign_checkpoint(tmp_path):
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    one_line_error(run_cli([f"ckpt_path={other}"], tmp_path), "not a lightning_ae checkpoint")


def test_unknown_evaluation_option_in_training_lists_the_valid_ones(tmp_path):
    one_line_error(run_cli(["evaluation=fsat"], tmp_path), "unknown evaluation 'fsat'", "fast")
