"""What "reproduced" means in the reproduction table (benchmarks/README.md, issue 21), as code: a row's verdict from
its seeds, the standard error of a gap, whether both sides were scored alike, and whether a result is stale.

- **Seeds.** A comparative check (a metric against another metric or another row) or a headline within
  `MARGINAL` (5 %) of its numeric threshold needs `PROTOCOL_SEEDS` seeds on each side. It then holds when every
  seed agrees (the worst seed of one side beats the best of the other) or when the means differ by more than 2
  standard errors, √(sd_a²/n_a + sd_b²/n_b), in the claimed direction; the verdict says which.
- **The same evaluation.** FIDs compared across rows need the same classifier (`fid/classifier_id`) and sample
  count; IS-NLLs the same K and image count (`evaluation_settings`).
- **Staleness.** A result recorded on a `+dirty` tree, under another row definition, or at a commit from which the
  files that compute it (`COMPUTATION_PATHS`, less `NOT_COMPUTATION`) have changed in meaning (`meaning`: comments
  and docstrings aside) is stale, and the table says so.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import operator
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
PROTOCOL_SEEDS = 3
MARGINAL = 0.05  # a headline this close to its threshold (relative) needs seeds like a comparison
COMPUTATION_PATHS = ("lightning_ae", "conf", "datamodules", "benchmarks/curve.py")
# Files under COMPUTATION_PATHS that decide where a run writes, what it refuses, how it stops and how it is loaded
# elsewhere, but never what a row computes: no tensor, random draw or trainer setting goes through them (the
# training and evaluation path is train.py, building.py, the models, nets, data and evaluation). A change to one of
# them leaves a row current, so fault and launcher fixes do not send the table back to a rerun of every row.
NOT_COMPUTATION = tuple(f"lightning_ae/{name}.py" for name in (
    "api", "callbacks/fault_tolerance", "checkpointing", "cli", "data_identity", "errors", "export", "interrupts",
    "loggers", "run_dir", "safe_load", "slurm", "sweep"))  # fault_tolerance: when last.ckpt is saved, the NaN stop
NOT_YET = "not yet reproduced under the protocol"
UNCONFIRMED = "not yet confirmed under the protocol"


def row_spec(row) -> str:
    """A fingerprint of what a row computes (recipe, budget, evaluation): a result under another one is stale."""
    spec = [row.train, row.epochs, row.evaluation, row.cpu_seconds, row.cpu_budget_from, row.needs, row.curve_parts]
    if row.cpu_seconds is not None or row.cpu_budget_from:  # CPU budgets became calibrated batches (calibrate.py)
        spec.append("quiet-calibrated batches")
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]


def seed_metrics(result: dict | None) -> list[dict]:
    """The metrics of each seed of a result (a result from before seeds were recorded is one seed)."""
    if not result:
        return []
    seeds = [s.get("metrics") for s in (result.get("seeds") or {}).values() if s.get("status") == "ok"]
    return [m for m in seeds if m] or ([result["metrics"]] if result.get("metrics") else [])


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None below two values)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def aggregate(per_seed: list[dict]) -> tuple[dict, dict]:
    """Per-seed metric dicts → (mean of each key every seed has, sd of each where ≥ 2 seeds)."""
    keys = set.intersection(*(set(m) for m in per_seed)) if per_seed else set()
    means, sds = {}, {}
    for key in sorted(keys):
        values = [float(m[key]) for m in per_seed if isinstance(m[key], (int, float))]
        if len(values) == len(per_seed):
            means[key], sd = mean_sd(values)
            if sd is not None:
                sds[key] = sd
    return means, sds


def values(ref: float | str, result: dict, results: dict) -> tuple[list[float] | None, str | None]:
    """Per-seed values of a reference: a number, `<key>` of this result or `<row>:<key>` of another, each
    optionally `×k`; and the other row's name, if any."""
    if isinstance(ref, (int, float)):
        return [float(ref)], None
    ref, _, factor = ref.partition("×")
    other, _, key = ref.rpartition(":")
    source = results.get(other) if other else result
    got = [m.get(key) for m in seed_metrics(source)]
    if not got or any(v is None for v in got):
        return None, other or None
    return [float(v) * float(factor or 1) for v in got], other or None


def comparable(key: str, result: dict, other: dict | None) -> str | None:
    """Why `key` of `result` cannot be compared with `other`'s (None when it can): another FID classifier or
    sample count, another K or image count for IS-NLL."""
    if other is None:
        return None
    if key.startswith("fid/"):
        every = [m for r in (result, other) for m in seed_metrics(r)]  # seed by seed: a mean would hide a mix
        ids = {m.get("fid/classifier_id") for m in every}
        if None in ids:
            return "the FID classifier is not recorded on both sides"
        if len(ids) > 1:
            return "different FID classifiers"
        counts = [sorted({m.get("fid/samples") for m in seed_metrics(r)}, key=str) for r in (result, other)]
        if len(set(map(tuple, counts))) > 1 or len(counts[0]) > 1:
            return f"FID of {'/'.join(fmt(c, 6) for c in counts[0])} against " \
                   f"{'/'.join(fmt(c, 6) for c in counts[1])} samples"
    if key.startswith("likelihood/"):
        fields = ("is_samples", "likelihood_max_images")
        a, b = ([(r.get("evaluation_settings") or {}).get(f) for f in fields] for r in (result, other))
        if a != b:
            return f"IS-NLL with (K, images) {tuple(a)} against {tuple(b)}"
    return None


def check(key: str, op: str, ref, result: dict, results: dict) -> tuple[str, str]:
    """One check over seeds → (outcome, words): "every seed" or "2 SE" (it holds), "failed" (it does not),
    "not comparable" (the two sides were scored differently) or "incomplete" (a number is missing)."""
    have, _ = values(key, result, results)
    want, other = values(ref, result, results)
    if have is None:
        return "incomplete", f"no {key} in the evaluation"
    if want is None:
        return "incomplete", f"no {ref} to compare with" + (f" (run {other})" if other and other not in results else "")
    problem = comparable(key, result, results.get(other) if other else None)
    if problem:
        return "not comparable", f"{key} against {other}'s: {problem}"
    (mh, sh), (mw, sw) = mean_sd(have), mean_sd(want)
    if not OPS[op](mh, mw):
        return "failed", f"{key} {fmt(mh)} not {op} {fmt(mw)}"
    if all(OPS[op](h, w) for h in have for w in want):
        return "every seed", ""
    se = math.sqrt((sh or 0.0) ** 2 / len(have) + (sw or 0.0) ** 2 / len(want))
    if len(have) + len(want) > 2 and abs(mh - mw) > 2 * se:
        return "2 SE", ""
    return "failed", f"{key} {fmt(mh)} {op} {fmt(mw)} on the means, but some seeds disagree and the gap is " \
                     f"within 2 standard errors ({fmt(2 * se)})"


def needs_seeds(row, result: dict, results: dict) -> str | None:
    """Why the row's seeds are too few for the protocol (None when they suffice)."""
    n = len(seed_metrics(result))
    checks = [(row.headline[0], *row.target), *row.extra_checks]
    comparative = [ref for _, _, ref in checks if isinstance(ref, str)]
    others = {ref.partition("×")[0].rpartition(":")[0] for ref in comparative} - {""}
    fewest = min([n, *(len(seed_metrics(results.get(o))) for o in others)])
    if comparative:
        if fewest >= PROTOCOL_SEEDS:
            return None
        margin = getattr(row, "single_seed_margin", None)
        if margin is not None and all(gap(row, k, ref, result, results) > margin
                                      for k, _, ref in checks if isinstance(ref, str)):
            return None
        return f"{fewest} seed{'s' if fewest != 1 else ''} on a side of a comparison"
    have, _ = values(row.headline[0], result, results)
    op, threshold = row.target
    if have and abs(mean_sd(have)[0] - threshold) <= MARGINAL * abs(threshold) and n < PROTOCOL_SEEDS:
        return f"{n} seed{'s' if n != 1 else ''}, within {MARGINAL:.0%} of the threshold"
    return None


def gap(row, key: str, ref, result: dict, results: dict) -> float:
    have, _ = values(key, result, results)
    want, _ = values(ref, result, results)
    return abs(mean_sd(have)[0] - mean_sd(want)[0]) if have and want else 0.0


def verdict(row, result: dict, results: dict) -> str:
    """reproduced (every seed agrees / gap > 2 standard errors / one seed), short: ..., not comparable: ...,
    incomplete: ..., or met but not yet reproduced under the protocol (too few seeds), or the run's failure;
    led by "partial (...)" while some of the row's seeds are still to run (report.py --seeds)."""
    judged = _verdict(row, result, results)
    missing = [str(s) for s in row.seeds if str(s) not in (result.get("seeds") or {})]
    if result.get("seeds") and missing and result.get("status") == "ok":
        have = len(row.seeds) - len(missing)
        return f"partial ({have} of {len(row.seeds)} seeds; the rest: --seeds {','.join(missing)}): {judged}"
    return judged


def _verdict(row, result: dict, results: dict) -> str:
    if result.get("status") != "ok":
        return result.get("status", "not run")
    metrics = result.get("metrics") or {}
    if row.target is None:
        return "baseline row" if row.headline[0] in metrics else f"no {row.headline[0]} in the evaluation"
    outcomes, failed = [], {"failed": [], "not comparable": [], "incomplete": []}
    for key, op, ref in [(row.headline[0], *row.target), *row.extra_checks]:
        outcome, words = check(key, op, ref, result, results)
        (failed[outcome].append(words) if outcome in failed else outcomes.append(outcome))
    few = needs_seeds(row, result, results)
    for kind, head in (("failed", "short"), ("not comparable", "not comparable"), ("incomplete", "incomplete")):
        if failed[kind]:
            if kind == "failed" and few:  # a shortfall on too few seeds stands, but unconfirmed
                head += f", {UNCONFIRMED} ({few}; needs ≥ {PROTOCOL_SEEDS} seeds)"
            return f"{head}: " + "; ".join(failed["failed"] + failed["not comparable"] + failed["incomplete"])
    if few:
        return f"met, {NOT_YET} ({few}; needs ≥ {PROTOCOL_SEEDS} seeds)"
    n = len(seed_metrics(result))
    if n < 2:
        return "reproduced (one seed)"
    return "reproduced (every seed agrees)" if all(o == "every seed" for o in outcomes) else \
        "reproduced (gap > 2 standard errors)"


def meaning(path: str, data: bytes | None) -> str | None:
    """What a computation file says, less what cannot change a run: Python as its syntax tree without docstrings
    (comments and layout never reach the tree), YAML as its parsed content plus Hydra's `# @package` line, any other
    file as it is. So a comment, a docstring or a reflowed line leaves the rows current. None: absent."""
    if data is None:
        return None
    if path.endswith(".py"):
        try:
            tree = ast.parse(data)
        except SyntaxError:
            return hashlib.sha1(data).hexdigest()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
                    isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                    isinstance(body[0].value.value, str):
                node.body = body[1:]
        return hashlib.sha1(ast.dump(tree).encode()).hexdigest()
    if path.endswith((".yaml", ".yml")):
        text = data.decode(errors="replace")
        package = [line.strip() for line in text.splitlines() if line.lstrip().startswith("# @package")]
        try:
            content = json.dumps(yaml.safe_load(text), default=str)
        except yaml.YAMLError:
            content = text
        return hashlib.sha1(json.dumps([package, content]).encode()).hexdigest()
    return hashlib.sha1(data).hexdigest()


def contents(specs: list[str]) -> list[bytes | None]:
    """Each `<commit>:<path>`'s bytes (None where the commit lacks it), through one `git cat-file --batch`."""
    if not specs:
        return []
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=ROOT, input="\n".join(specs).encode() + b"\n",
                         capture_output=True).stdout
    found, at = [], 0
    for _ in specs:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        if len(header) != 3 or header[-1] == b"missing":
            found.append(None)
            at = end + 1
            continue
        size = int(header[2])
        found.append(out[end + 1:end + 1 + size])
        at = end + 1 + size + 1
    return found


@functools.lru_cache(maxsize=None)
def changed_since(commit: str) -> tuple[str, ...] | None:
    """The files under COMPUTATION_PATHS, less NOT_COMPUTATION, whose meaning (`meaning`: comments and docstrings
    left out) differs between `commit` and HEAD (None: commit unknown here)."""
    paths = [*COMPUTATION_PATHS, *(f":(exclude){path}" for path in NOT_COMPUTATION)]
    out = subprocess.run(["git", "diff", "--name-only", commit, "HEAD", "--", *paths], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    names = out.stdout.split()
    before, after = contents([f"{commit}:{n}" for n in names]), contents([f"HEAD:{n}" for n in names])
    return tuple(n for n, a, b in zip(names, before, after) if meaning(n, a) != meaning(n, b))


@functools.lru_cache(maxsize=None)
def computation(commit: str) -> str | None:
    """A fingerprint of what computes a row at `commit`: the meaning (`meaning`) of each file under
    COMPUTATION_PATHS less NOT_COMPUTATION, hashed together; recorded with every result. Two commits with the same
    fingerprint compute every row alike, so their rows make one table. None for a modified tree or a commit unknown
    here."""
    if not commit or commit.endswith("+dirty"):
        return None
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, "--", *COMPUTATION_PATHS], cwd=ROOT,
                         capture_output=True, text=True)
    names = [n for n in out.stdout.split("\n") if n and n not in NOT_COMPUTATION]
    if out.returncode != 0 or not names:
        return None
    kept = [f"{n} {meaning(n, data)}" for n, data in zip(names, contents([f"{commit}:{n}" for n in names]))]
    return hashlib.sha1("\n".join(kept).encode()).hexdigest()[:12]


def stale(row, result: dict, git: bool = True) -> str | None:
    """Why a recorded result no longer describes the code at HEAD (None when it does). `git=False` leaves out the
    check against HEAD's files (what results.json and report.py alone decide: the README's column)."""
    commit = str(result.get("commit") or "")
    if not commit:
        return "no commit recorded"
    if commit.endswith("+dirty"):
        return f"run on a modified tree ({commit})"
    if result.get("row_spec") and result["row_spec"] != row_spec(row):
        return "the row's recipe, budget or evaluation changed since"
    if not git:
        return None
    changed = changed_since(commit)
    if changed is None:
        return f"commit {commit} is not in this repository"
    if changed:
        return f"{len(changed)} file{'s' if len(changed) != 1 else ''} that compute it changed since {commit}"
    return None


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"
