"""Command-line checks that run before Hydra composes anything, so a typo gets one clear line."""
from __future__ import annotations

from lightning_ae import config_options
from lightning_ae.errors import UserError

GROUPS = ("model", "data", "trainer", "logger", "callbacks", "paths", "experiment", "optimizer",
          "scheduler", "hparams_search", "model/net")


def _values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    return [v.strip() for v in raw.split(",") if v.strip()]


def check_overrides(args: list[str]) -> None:
    """Raise UserError for `group=option` where the option does not exist (multirun lists too)."""
    for arg in args:
        if "=" not in arg or arg.startswith("-"):
            continue
        key, raw = arg.split("=", 1)
        key = key.lstrip("+~").removeprefix("override ").strip()
        if key not in GROUPS or any(s in raw for s in ("${", "(", "null")):
            continue
        options = config_options(key)
        for value in _values(raw):
            if value not in options:
                raise UserError(f"unknown {key} '{value}'; available: {', '.join(options)} "
                                f"(e.g. {key}={options[0] if options else '...'})")
