"""Multiruns that outlive a bad job, and one table of every job at the end (summary.md, summary.csv).

- `run_job(run, cfg)`: a job of a multirun that fails (a UserError such as the NaN stop, out of memory, any
  other exception) is recorded in `<job dir>/error.txt` with its one line and logged; it returns None, which
  Optuna's sweeper records as a failed trial (a NaN, which new Optuna versions refuse, would end the search:
  a job scoring NaN returns None too), and the sweep goes on with the next job. Ctrl-C and SIGTERM still end the
  sweep. Every job's overrides were checked before the first one started (lightning_ae/cli.py check_values).
- `SweepSummary`: after the multirun, a row per job: its overrides, `status` (ok / failed), its `error`, metrics.
  A grid sweep with a failed job then exits with status 1 and one line (`failed_jobs`, read by `train.main`), so
  scripts and schedulers see it; an Optuna search does not (a failed trial is part of a search), unless every
  trial failed: then it ends with one line and status 1 (`end_a_search_with_no_result`).
"""
from __future__ import annotations

import csv
import math
import json
import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("lightning_ae")
ERROR_FILE = "error.txt"
failed_jobs: list[str] = []  # the failed jobs of this process's grid sweep, set at its end by SweepSummary
search_scores: list[float | None] = []  # each job of this process's multirun so far: its score, None if it failed


def run_job(run, cfg: DictConfig):
    """`run(cfg)` for one job of a multirun; a failure is recorded (see the module docstring), not raised."""
    from hydra.core.hydra_config import HydraConfig

    from lightning_ae.errors import Preempted, UserError
    from lightning_ae.run_dir import claimed_here, holds_run, open_logs, release

    try:
        value = run(cfg)
        value = None if value is not None and not math.isfinite(value) else value  # a NaN score: failed too
        search_scores.append(value)
        return value
    except Preempted:
        raise
    except UserError as e:
        line = str(e)
    except Exception as e:  # out of memory, a bug: the traceback goes to the job's log, the line to the table
        log.exception("job failed")
        line = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
    log.error("sweep job %s failed: %s", HydraConfig.get().job.num, line)
    out = Path(cfg.paths.output_dir)
    if claimed_here(out) or not holds_run(out):  # never into a directory that holds another run
        (out / ".hydra").mkdir(parents=True, exist_ok=True)
        (out / ERROR_FILE).write_text(line + "\n")
        overrides = out / ".hydra" / "overrides.yaml"  # for the summary, where the job failed before writing it
        if not overrides.exists():
            overrides.write_text(OmegaConf.to_yaml(list(HydraConfig.get().overrides.task)))
        open_logs()  # the job's log (a traceback included) goes to its directory too
        release()
    search_scores.append(None)
    end_a_search_with_no_result()
    return None


def end_a_search_with_no_result() -> None:
    """The last trial of an Optuna search, and no trial of this launch has a score: the sweeper would fail on
    reading its best trial (a traceback). The summary is written and the search ends here with one line, status 1."""
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    if "optuna" not in str(hydra.sweeper.get("_target_", "")) or len(search_scores) < hydra.sweeper.n_trials \
            or any(score is not None for score in search_scores):
        return
    sweep_dir = Path(hydra.sweep.dir)
    write_summary(sweep_dir, collect(sweep_dir))
    print(f"error: all {len(search_scores)} trials of the Optuna search failed, so it has no best trial; their errors "
          f"are in {sweep_dir.resolve() / 'summary.md'} and each trial's error.txt", file=sys.stderr)
    raise SystemExit(1)


def collect(sweep_dir: Path) -> list[dict]:
    rows = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        metrics_file, overrides_file, error_file = job / "metrics.json", job / ".hydra" / "overrides.yaml", \
            job / ERROR_FILE
        if not metrics_file.exists() and not error_file.exists():
            continue
        overrides = OmegaConf.load(overrides_file) if overrides_file.exists() else []
        row = {"job": job.name, "overrides": " ".join(str(o) for o in overrides)}
        if error_file.exists():
            row |= {"status": "failed", "error": error_file.read_text().strip()}
        else:
            row |= {"status": "ok", **json.loads(metrics_file.read_text())}
        rows.append(row)
    return rows


def write_summary(sweep_dir: Path, rows: list[dict], keys: tuple[str, ...] = ()) -> str:
    first = ["job", "overrides", "status", "error"] if any(r.get("status") == "failed" for r in rows) else \
        ["job", "overrides", "status"]
    columns = first + sorted({k for r in rows for k in r} - set(first))
    with open(sweep_dir / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    shown = first + [c for c in columns if c in keys or (not keys and c.startswith(("test/", "val/loss")))]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in shown) + " |" for r in rows]
    table = "\n".join(lines)
    (sweep_dir / "summary.md").write_text(table + "\n")
    return table


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = collect(sweep_dir)
        if rows:
            table = write_summary(sweep_dir, rows)
            log.info("sweep summary (%s):\n%s", sweep_dir / "summary.md", table)
        if "optuna" not in str(config.hydra.sweeper.get("_target_", "")):
            failed_jobs[:] = [r["job"] for r in rows if r["status"] == "failed"]
