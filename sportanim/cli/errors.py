"""How every command reports a user's mistake: one line on stderr and exit code 2.

A user error is what the library raises for bad input it can explain (``ValueError``,
``OSError``, a pose backend that cannot run); anything else is a bug and keeps its traceback.
Under several processes (``torchrun`` / ``accelerate launch``) only rank 0 prints.
"""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)  # messages, notes and errors; results go to stdout


def _user_errors() -> tuple[type[BaseException], ...]:
    from sportanim.data.pose import PoseBackendError

    return (ValueError, OSError, PoseBackendError)


def fail(message: str) -> NoReturn:
    if os.environ.get("RANK", "0") == "0":
        console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def run(fn, *args, **kwargs):
    """Call the library; user errors become one line and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except _user_errors() as error:
        fail(str(error))


def say(message: str) -> None:
    """A message on stderr (rank 0 only), printed as given."""
    if os.environ.get("RANK", "0") == "0":
        console.print(message, highlight=False, soft_wrap=True)
