"""The ``sportanim`` command line: the one typer app, a module per command group.

Each command parses its flags and makes one library call (so every command is also a Python
call); user errors become one line and exit code 2 (``sportanim.cli.errors``). Nothing
outside this package imports typer. Library modules load on first use, so ``--help`` is fast.
"""

from __future__ import annotations

from typing import Optional

import typer

from sportanim.cli import app as app_command, data, evaluate, experiment, feedback, generate, memory, motion, synth, train

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Sports video generation from 3D motion (MTVCrafter, fine-tuned for sport).")


@app.callback()
def options(threads: Optional[int] = typer.Option(
        None, "--threads", help="torch threads (default: OMP_NUM_THREADS if set, else the cores idle now; "
                                "see sportanim.threads)")) -> None:
    """Sports video generation from 3D motion (MTVCrafter, fine-tuned for sport)."""
    from sportanim.cli.errors import run
    from sportanim.threads import apply_thread_policy

    run(apply_thread_policy, threads)


app.command("synth")(synth.synth)
app.add_typer(data.app, name="data")
app.add_typer(motion.app, name="motion")
app.command("pretrain")(train.pretrain)
app.command("train")(train.train)
app.command("generate")(generate.generate)
app.command("evaluate")(evaluate.evaluate)
app.command("experiment")(experiment.experiment)
app.command("demo")(experiment.demo)
app.command("plan-memory")(memory.plan_memory)
app.command("feedback")(feedback.feedback)
app.command("app")(app_command.web_app)  # module app.py: imported before `app` below is bound


def main() -> None:
    app()
