"""After a multirun: one table of every job's overrides and final metrics (summary.md, summary.csv)."""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("lightning_ae")


def collect(sweep_dir: Path) -> list[dict]:
    rows = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        metrics_file, overrides_file = job / "metrics.json", job / ".hydra" / "overrides.yaml"
        if not metrics_file.exists():
            continue
        overrides = OmegaConf.load(overrides_file) if overrides_file.exists() else []
        row = {"job": job.name, "overrides": " ".join(str(o) for o in overrides)}
        row.update(json.loads(metrics_file.read_text()))
        rows.append(row)
    return rows


def write_summary(sweep_dir: Path, rows: list[dict], keys: tuple[str, ...] = ()) -> str:
    columns = ["job", "overrides"] + sorted({k for r in rows for k in r} - {"job", "overrides"})
    with open(sweep_dir / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    shown = ["job", "overrides"] + [c for c in columns if c in keys or (not keys and c.startswith(("test/", "val/loss")))]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
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
