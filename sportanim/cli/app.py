"""``sportanim app``: the coaches' web app (``sportanim.studio.app.serve``), on localhost
unless told otherwise. Needs the ``app`` extra (gradio)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import fail, run, say


def web_app(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights folder (default: the shipped tiny base)."),
    data: Optional[Path] = typer.Option(None, "--data", help="FSJD folder: its clip ids become motion sources."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
) -> None:
    """Web app for coaches: a photo of the athlete and a jump -> the feedback video in the browser."""
    if importlib.util.find_spec("gradio") is None:
        fail("the web app needs gradio: pip install sportanim[app]")  # fail() escapes rich markup
    from sportanim.studio.app import serve

    say(f"sportanim app: loading the model, then serving on http://{host}:{port} (Ctrl+C stops)")
    run(serve, host, port, weights=weights, data=data, device=device)
