"""``python -m sportanim``: the ``sportanim`` command."""

from sportanim.cli import main

main()
