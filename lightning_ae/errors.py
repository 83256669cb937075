"""Bad input ends a run with one clear line that says what to do, never a traceback."""
from __future__ import annotations

import contextlib
import logging
import os
import sys

log = logging.getLogger("lightning_ae")


class UserError(Exception):
    """A problem with the user's config, data or files; the message says how to fix it."""

    exit_code = 2


class Preempted(UserError):
    """Training stopped by SIGTERM (a scheduler's pre-emption, `kill`): the usual 128 + 15 status."""

    exit_code = 143


class Interrupted(Preempted):
    """Training stopped by Ctrl-C (SIGINT), handled like SIGTERM (lightning_ae/interrupts.py): 128 + 2."""

    exit_code = 130


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


@contextlib.contextmanager
def user_errors():
    """Turn a UserError raised anywhere inside into the one-line message and its exit status (2)."""
    try:
        yield
    except Preempted as e:  # every rank of a DDP run stops with the same line: rank zero says it
        if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0:
            fail(str(e), e.exit_code)
        sys.exit(e.exit_code)
    except UserError as e:
        fail(str(e), e.exit_code)
