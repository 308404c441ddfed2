"""``python -m sportanim.train ...`` / ``accelerate launch -m sportanim.train ...``:
the ``sportanim train`` command on its own."""

import typer

from sportanim.train.cli import train

if __name__ == "__main__":
    typer.run(train)
