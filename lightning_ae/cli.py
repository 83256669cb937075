"""Checks and launch-time adjustments that run before Hydra, so a typo gets one clear line.

- `check_overrides`: `group=option` names an existing option (multirun lists too).
- `check_values`: `key=value` names an existing key and keeps the type of its default (a `trainer.<name>`:
  a type Lightning's annotation admits); `trainer.<name>` is checked against the trainer schema (every
  `pytorch_lightning.Trainer` argument, lightning_ae/schema.py), with or without `+`. A misspelt key gets
  the nearest valid names. The composed config (experiment YAMLs included) then passes
  `check_manual_optimization`.
- `check_manual_optimization`: trainer options that only automatic optimization honours are refused for
  the variants that step their optimizers themselves.
- `torchrun_overrides`: under torchrun or srun, every rank of every node writes into one run directory.
"""
from __future__ import annotations

import difflib
import os
from datetime import datetime

from lightning_ae import config_options
from lightning_ae.errors import UserError
from lightning_ae.schema import BUILT_ELSEWHERE, trainer_accepts, trainer_arguments

GROUPS = ("model", "data", "trainer", "logger", "callbacks", "paths", "experiment", "optimizer",
          "scheduler", "hparams_search", "model/net", "evaluation")


def _values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    return [v.strip() for v in raw.split(",") if v.strip()]


def _key_value(arg: str) -> tuple[str, str] | None:
    if "=" not in arg or arg.startswith("-"):
        return None
    key, raw = arg.split("=", 1)
    return key.lstrip("+~").removeprefix("override ").strip(), raw


def check_overrides(args: list[str]) -> None:
    """Raise UserError for `group=option` where the option does not exist, and for a run directory
    below a regular file (before Hydra tries to create it)."""
    given = dict(kv for kv in map(_key_value, args) if kv is not None)
    for arg in args:
        kv = _key_value(arg)
        if kv is not None and kv[0] in ("hydra.run.dir", "hydra.sweep.dir"):
            check_run_dir(*kv)
    check_default_run_dir(given, multirun=any(a in ("-m", "--multirun") for a in args))
    for arg in args:
        kv = _key_value(arg)
        if kv is None or kv[0] not in GROUPS or any(s in kv[1] for s in ("${", "(", "null")):
            continue
        key, raw = kv
        options = config_options(key)
        for value in _values(raw):
            if value not in options:
                raise UserError(f"unknown {key} '{value}'; available: {', '.join(options)} "
                                f"(e.g. {key}={options[0] if options else '...'})")


def check_run_dir(key: str, raw: str) -> None:
    from pathlib import Path

    path = Path(raw)
    blocking = next((p for p in (path, *path.parents) if p.is_file()), None) if "${" not in raw else None
    if blocking is not None:
        raise UserError(f"{key}={raw}: {blocking} is a file, not a folder; choose a run directory elsewhere")
    if "${" not in raw:
        from lightning_ae.run_dir import check_writable

        check_writable(key, raw)


def check_default_run_dir(given: dict[str, str], multirun: bool) -> None:
    """Without hydra.run.dir (hydra.sweep.dir under -m), Hydra makes the run directory below paths.log_dir
    (`outputs/` in the folder you launch from): a folder this user cannot write is one line, not Hydra's traceback."""
    if given.get("hydra.sweep.dir" if multirun else "hydra.run.dir"):
        return
    log_dir = given.get("paths.log_dir", "outputs")
    if "${" in log_dir:
        return
    from lightning_ae.run_dir import check_writable

    check_writable("paths.log_dir", log_dir, hint="run from a folder you can write, or set paths.log_dir=... "
                                                   f"or {'hydra.sweep.dir' if multirun else 'hydra.run.dir'}=...")


def _first_values(args: list[str]) -> list[str]:
    """The overrides as one job would see them: sweeps reduced to their first value, hydra.* dropped."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = []
    for arg in args:
        if arg.startswith("-") or "=" not in arg or arg.lstrip("+~").startswith(("hydra.", "hydra/")):
            continue
        try:
            ov = OverridesParser.create().parse_override(arg)
        except Exception:
            raise UserError(f"cannot parse the override {arg!r}; write key=value (quote values with spaces)") from None
        if ov.is_sweep_override():
            try:
                first = next(iter(ov.sweep_string_iterator()))
            except Exception:  # interval(...) and other sweeper-only syntax: leave it to the sweeper
                continue
            arg = f"{arg.split('=', 1)[0]}={first}"
        out.append(arg)
    return out


def _type_name(v) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


def _sweep_jobs(args: list[str]) -> list[list[str]]:
    """The overrides of every job a `-m` grid sweep will run, in the basic sweeper's order (the product of the
    swept values, in command-line order); hydra.* and sweeper-only syntax (interval(...)) left out."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = []
    for arg in _first_values(args):  # parses every override once (one line for one it cannot parse)
        original = next(a for a in args if a.split("=", 1)[0] == arg.split("=", 1)[0])
        ov = OverridesParser.create().parse_override(original)
        key = original.split("=", 1)[0]
        choices.append([f"{key}={v}" for v in ov.sweep_string_iterator()] if ov.is_sweep_override() else [arg])
    return [list(job) for job in itertools.product(*choices)]


def check_values(args: list[str]) -> None:
    """Compose like each job would (every job of a `-m` grid sweep, before the first one runs); unknown keys,
    values of the wrong type, trainer options the model cannot honour (from the command line or from a YAML it
    selects, such as an experiment) and optimizer arguments torch refuses become one line naming the job."""
    if not any(a in ("-m", "--multirun") for a in args):
        return check_job(_first_values(args))
    jobs = _sweep_jobs(args)
    for number, overrides in enumerate(jobs):
        try:
            check_job(overrides)
        except UserError as e:
            raise UserError(f"sweep job {number} ({' '.join(overrides)}): {e}; no job was run") from None


def check_job(overrides: list[str]) -> None:
    """The checks of `check_values` for one job's overrides."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf

    groups = [a for a in overrides if _key_value(a) and _key_value(a)[0] in GROUPS]
    values = [a for a in overrides if a not in groups]
    if not overrides:
        return  # the defaults: nothing to check
    was_initialized = GlobalHydra.instance().is_initialized()
    if was_initialized:
        return  # called from inside a running Hydra app (tests): composition errors surface there
    try:
        with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
            try:
                base = compose(config_name="train", overrides=groups)
            except ConfigCompositionException as e:  # options that do not fit together (an experiment's defaults)
                raise UserError(" ".join(str(e).split())) from None
            try:
                job = compose(config_name="train", overrides=overrides) if values else base
            except ConfigCompositionException as e:
                raise UserError(_composition_message(e, base)) from None
    finally:
        GlobalHydra.instance().clear()
    declared = {"_target_", *trainer_arguments()}
    added = [str(k) for k in job.trainer if k not in declared]  # +trainer.<typo> composes; the schema refuses it
    if added:
        raise UserError(unknown_key(f"trainer.{added[0]}", base))
    check_manual_optimization(job)
    for arg in values:
        key, raw = _key_value(arg)
        if arg.startswith(("+", "~")) or "${" in raw:
            continue
        default = OmegaConf.select(base, key, throw_on_missing=False, throw_on_resolution_failure=False)
        if not isinstance(default, (bool, int, float)) or default is None:
            continue
        from hydra.core.override_parser.overrides_parser import OverridesParser

        value = OverridesParser.create().parse_override(arg).value()
        parent, _, name = key.rpartition(".")
        ok = (trainer_accepts(name, value) if parent == "trainer" else  # Lightning's types, not the default's
              isinstance(value, bool) if isinstance(default, bool) else
              isinstance(value, int) and not isinstance(value, bool) if isinstance(default, int) else
              isinstance(value, (int, float)) and not isinstance(value, bool))
        if value is not None and not ok:
            raise UserError(f"{key}={raw} has the wrong type: {key} takes {_type_name(default)} "
                            f"(default {default})")
    from lightning_ae.train import check_optimizers  # here: train.py imports this module

    check_optimizers(job)


def check_manual_optimization(job) -> None:
    """Trainer options that Lightning applies only to automatic optimization are refused, in one line, for
    the variants that step their optimizers themselves (ACAI, VAE-GAN, ALAE: the models with `grad_clip`),
    instead of Lightning's trace. Read from the config: importing the models here would import Lightning
    before Hydra sets up logging."""
    if "grad_clip" not in job.model:
        return
    model = str(job.model._target_).rsplit(".", 1)[-1]
    if job.trainer.get("gradient_clip_val"):
        raise UserError(f"{model} steps its optimizers itself, so trainer.gradient_clip_val would not apply: "
                        f"use model.grad_clip={job.trainer.gradient_clip_val}")
    if job.trainer.get("accumulate_grad_batches", 1) != 1:
        raise UserError(f"{model} steps its optimizers itself, so trainer.accumulate_grad_batches would not "
                        "apply: use a larger data.batch_size")


def _composition_message(e: Exception, base) -> str:
    text = str(e)
    if "Could not override '" in text:
        return unknown_key(text.split("Could not override '", 1)[1].split("'", 1)[0], base)
    if "An item is already at '" in text:
        key = text.split("An item is already at '", 1)[1].split("'", 1)[0]
        return f"{key} already exists: set it without the plus, {key}=..."
    return " ".join(text.split())


def unknown_key(key: str, base) -> str:
    """One line for a key that `base` does not have: the nearest valid names (difflib), or all of them."""
    from omegaconf import OmegaConf

    parent, _, name = key.rpartition(".")
    if parent == "trainer" and name in BUILT_ELSEWHERE:
        return f"trainer.{name} is not set through trainer.*: {BUILT_ELSEWHERE[name]}"
    node = OmegaConf.select(base, parent) if parent else base
    keys = node.keys() if hasattr(node, "keys") else []
    valid = sorted(str(k) for k in keys if not str(k).startswith("_") and k != name)  # `name` itself, if +added
    close = difflib.get_close_matches(name, valid, n=3)
    where = f"{parent} " if parent else ""
    hint = f"did you mean {' or '.join(close)}?" if close else f"valid {where}options: {', '.join(valid)}"
    if parent == "trainer":
        return f"unknown trainer option '{name}'; {hint} (every pytorch_lightning.Trainer argument is trainer.<name>)"
    return f"unknown {where}option '{name}'; {hint} (to add a new key on purpose write +{key}=...)"


SHARED_STAMP_KEY = "lightning_ae/run_dir_stamp"


def shared_run_name() -> str:
    """The run directory's name, the same on every rank of every node of one job.

    - Under SLURM (`srun`, with or without torchrun): `slurm-<job id>[.<step id>]`. A requeued job keeps its id,
      so `resume=auto` finds the directory again.
    - Under torchrun: the start time of whichever rank asks first, kept in the TCPStore that torchrun's agent
      serves at MASTER_ADDR:MASTER_PORT for the whole job (`TORCHELASTIC_USE_AGENT_STORE`, the default for the
      static and c10d rendezvous) and read by every other rank; a worker restarted by torchrun finds it again.
      torchrun's own `--rdzv-id` does not name runs: its default is "none" (static rendezvous) or a fresh uuid.
    - torchrun with its store not shared (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1): `torchrun-<rdzv id>` where one
      was given, else a one-line error asking for `hydra.run.dir`.
    Each node's own clock would split the run in two (the agents start at different seconds)."""
    job, step = os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_STEP_ID", "")
    if job and step.isdigit() and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return f"slurm-{job}" + (f".{step}" if step != "0" else "")
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        from datetime import timedelta

        from torch.distributed import TCPStore

        store = TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                         timeout=timedelta(seconds=120))
        mine = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        return store.compare_set(SHARED_STAMP_KEY, "", mine).decode()  # the first rank's value, for all
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    if run_id != "none":
        return f"torchrun-{run_id}"
    raise UserError("cannot name one run directory for every node (torchrun shares no store and has no "
                    "--rdzv-id): add hydra.run.dir=/shared/path/run to the command on every node")


def _distributed_launch() -> tuple[int, int, int] | None:
    """(rank, processes per node, nodes) when this process is one of several started by torchrun or srun."""
    env = os.environ
    if "TORCHELASTIC_RUN_ID" in env:
        world, local = int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_WORLD_SIZE", "1"))
        return int(env.get("RANK", "0")), local, max(1, world // max(local, 1))
    if env.get("SLURM_STEP_ID", "").isdigit() and int(env.get("SLURM_NTASKS", "1")) > 1:  # srun, several tasks
        tasks, nodes = int(env["SLURM_NTASKS"]), int(env.get("SLURM_STEP_NUM_NODES", env.get("SLURM_NNODES", "1")))
        return int(env.get("SLURM_PROCID", "0")), tasks // max(nodes, 1), nodes
    return None


def torchrun_overrides(args: list[str]) -> list[str]:
    """Extra overrides when started as one of several processes by torchrun or srun: one run directory for the
    job (`shared_run_name`; a user's `hydra.run.dir` wins), a log file per rank (`train_rank<k>.log`, beside
    rank 0's `train.log`), and trainer.devices / trainer.num_nodes from the launcher unless given."""
    launch = _distributed_launch()
    if launch is None or any(a.startswith(("-m", "--multirun")) for a in args):
        return []
    rank, per_node, nodes = launch
    extra = []
    if not any(a.startswith("hydra.run.dir=") for a in args):
        extra.append(f"hydra.run.dir=${{paths.log_dir}}/${{task_name}}/runs/{shared_run_name()}")
    if rank != 0:
        extra += ["hydra.output_subdir=null", f"hydra.job.name=train_rank{rank}"]
    if not any(a.startswith("trainer.devices=") for a in args):
        extra.append(f"trainer.devices={per_node}")
    if not any(a.startswith("trainer.num_nodes=") for a in args):
        extra.append(f"trainer.num_nodes={nodes}")
    return extra
