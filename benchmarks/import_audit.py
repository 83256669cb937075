"""Which heavy packages a run imports, who imports each (the chain), and what each costs at start.

Runs the command under `python -X importtime` and reads its report (one line per module, children before their
parent, indentation = depth). For each package of `HEAVY` that was imported: its own cost (the self times of
the package and its submodules, without what they import from other packages), the cumulative seconds of
the imports that entered it from outside (with what it pulls in), and the chain of importers from a
top-level import down to the costliest entry.
A top-level import inside a function (e.g. `import pytorch_lightning` in `lightning_ae.train.run`) starts a
chain of its own. Times include the machine's load; compare packages within one report.

    .venv/bin/python benchmarks/import_audit.py -- -m lightning_ae model=vae data=mnist \\
        paths.data_dir=../shared/data trainer.fast_dev_run=true evaluation.enabled=false
    .venv/bin/python benchmarks/import_audit.py --report importtime.txt   # an existing -X importtime log
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HEAVY = ("pytorch_lightning", "lightning_fabric", "torch", "torch._dynamo", "torchmetrics", "torchvision",
         "torchvision.models", "hydra", "omegaconf", "wandb", "tensorboard", "tensorboardX", "optuna", "submitit",
         "sklearn", "scipy", "sympy", "matplotlib", "pandas", "PIL", "torch_fidelity", "numpy", "rich", "tqdm",
         "lightning_ae", "datamodules")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def parse(text: str) -> list[tuple[int, float, float, str]]:
    """(depth, self seconds, cumulative seconds, module) per line, in the report's order."""
    return [(len(m.group(3)) // 2, int(m.group(1)) / 1e6, int(m.group(2)) / 1e6, m.group(4))
            for m in LINE.finditer(text)]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def parents(rows) -> list[int | None]:
    """Index of each row's importer: the next row with a smaller depth (None at top level)."""
    out, waiting = [None] * len(rows), []  # rows whose importer is not seen yet, deepest last
    for i, (depth, *_) in enumerate(rows):
        while waiting and rows[waiting[-1]][0] > depth:
            out[waiting.pop()] = i
        waiting.append(i)
    return out


def compact(names: list[str]) -> str:
    """A chain with each run of one top-level package shortened to its first and last module."""
    runs: list[list[str]] = []
    for n in names:
        if runs and runs[-1][0].split(".")[0] == n.split(".")[0]:
            runs[-1].append(n)
        else:
            runs.append([n])
    return " → ".join(r[0] if len(r) == 1 else f"{r[0]} → … → {r[-1]}" if len(r) > 2 else f"{r[0]} → {r[1]}"
                      for r in runs)


def audit(text: str, packages=HEAVY) -> list[tuple[str, float, float, list[str]]]:
    """Per imported package of `packages`, costliest first: (package, own seconds, seconds of the imports that
    entered it from outside, the importer chain of the costliest such entry)."""
    rows = parse(text)
    parent, out = parents(rows), []
    for package in packages:
        hits = [i for i, row in enumerate(rows) if within(row[3], package)]
        entries = [i for i in hits if parent[i] is None or not within(rows[parent[i]][3], package)]
        if not hits:
            continue
        names, i = [], max(entries, key=lambda k: rows[k][2])
        while i is not None:
            names.append(rows[i][3])
            i = parent[i]
        out.append((package, sum(rows[i][1] for i in hits), sum(rows[i][2] for i in entries), names[::-1]))
    return sorted(out, key=lambda r: -r[2])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--report", help="read this -X importtime log instead of running a command")
    p.add_argument("command", nargs="*", help="arguments for python after `--`")
    args = p.parse_args(argv)
    if args.report:
        text = Path(args.report).read_text()
    else:
        with tempfile.TemporaryFile("w+") as err:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                                os.environ.get("PYTHONPATH", "")])}
            subprocess.run([sys.executable, "-X", "importtime", *args.command], stderr=err,
                           stdout=subprocess.DEVNULL, env=env, check=False)
            err.seek(0)
            text = err.read()
    print("| package | own s | s with what it pulls in | imported through (costliest entry) |\n|---|---|---|---|")
    for name, own, entry, names in audit(text):
        print(f"| {name} | {own:.2f} | {entry:.2f} | {compact(names)} |")


if __name__ == "__main__":
    main()
