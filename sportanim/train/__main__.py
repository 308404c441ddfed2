"""``python -m sportanim.train ...`` / ``accelerate launch -m sportanim.train ...``:
the ``sportanim train`` command on its own."""

from sportanim.cli.train import main

if __name__ == "__main__":
    main()
