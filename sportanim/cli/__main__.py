"""``python -m sportanim.cli``: the ``sportanim`` command."""

from sportanim.cli import main

main()
