"""Nothing lost, nothing silently ignored: a bad input leaves a finished run as it was, and ends in one line."""
from __future__ import annotations


import pytest

from tests.conftest import run_cli

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
RECORD = ("config.yaml", "overrides.yaml", "hydra.yaml")




def one_error_line(res) -> str:
    """The only line on stderr, checked to be our `error:` line with exit status 2."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("bad", [["model.latent_dim=-3"], ["data=folder", "data.path=nowhere"]])
def test_bad_input_leaves_the_run_record_byte_identical(bad, run_copy, tmp_path):
    before = {n: (run_copy / ".hydra" / n).read_bytes() for n in RECORD}
    one_error_line(run_cli([f"hydra.run.dir={run_copy}", *bad], tmp_path))
    assert {n: (run_copy / ".hydra" / n).read_bytes() for n in RECORD} == before


def test_checkpoint_of_other_data_names_the_differing_shapes(finished_run, data_root, tmp_path):
    line = one_error_line(run_cli(["model=ae", "data=mnist", f"paths.data_dir={data_root}",
                                   f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}"], tmp_path))
    assert "(1, 8, 8)" in line and "(1, 28, 28)" in line and "encoder" in line


@pytest.mark.parametrize("args, named", [
    (["data=folder"], "data.path=..."),
    (["optimizer.lr=-1"], "optimizer"),
    (["model=vaegan", "model.discriminator_optimizer.betas=[0.5,2.0]"], "model.discriminator_optimizer"),
    (["model=acai", "model.critic_optimizer.lr=-1"], "model.critic_optimizer: Invalid learning rate"),
])
def test_bad_values_are_one_line_naming_the_key(args, named, tmp_path):
    assert named in one_error_line(run_cli(args, tmp_path))


@pytest.mark.parametrize("module", ["lightning_ae", "lightning_ae.eval"])
def test_run_dir_below_a_file_is_one_line(module, finished_run, tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    args = [f"hydra.run.dir={tmp_path / 'notes.txt' / 'run'}", f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}"]
    assert "notes.txt is a file, not a folder" in one_error_line(run_cli(args, tmp_path, module=module))


@pytest.mark.parametrize("key", ["paths.data_dir", "data.data_dir"])
def test_missing_data_names_the_key_the_user_set(key, tmp_path):
    line = one_error_line(run_cli(["data=mnist", "data.download=false", f"{key}={tmp_path / 'empty'}"], tmp_path))
    other = ({"paths.data_dir", "data.data_dir"} - {key}).pop()
    assert f"point {key}=..." in line and other not in line


def test_optuna_search_scores_a_quantity_beta_does_not_change(tmp_path):
    """The searched metric is a VAE term that is the same for every β on the same batch and noise, while
    the training loss (recon + β·KL) is not; and the sweeper maximises it (it is the ELBO)."""
    import torch

    from lightning_ae.building import build
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["hparams_search=vae_optuna"], tmp_path)
    split, term = cfg.optimized_metric.split("/")
    assert split == "val"
    batch = (torch.rand(8, 1, 8, 8), torch.zeros(8, dtype=torch.long))
    terms = []
    for beta in (0.25, 4.0):
        torch.manual_seed(0)
        model = build(compose_cfg(["hparams_search=vae_optuna", f"model.beta={beta}"], tmp_path), "model")
        torch.manual_seed(1)
        terms.append({k: float(v) for k, v in model.loss(batch).items()})
    assert terms[0][term] == terms[1][term] and terms[0]["loss"] != terms[1]["loss"]
    assert terms[0][term] == pytest.approx(-(terms[0]["recon"] + terms[0]["kl"]), rel=1e-6)


def test_checkpoint_of_another_network_says_so(finished_run, tmp_path):
    line = one_error_line(run_cli(["model.latent_dim=8", f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}"],
                                  tmp_path))
    assert "(16, 256) in the checkpoint but (8, 256) here" in line and "model.*" in line
