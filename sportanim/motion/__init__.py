"""Motion beyond tokens: ISU element codes, a jump generator over 4DMoT codes, a jump
classifier.

- ``elements``: ``3Lz`` <-> ``("lutz", 3.0)``, with the refusals a coach's typo needs.
- ``frames``: clip joints -> world -> a canonical broadcast camera the generator works in, and
  back; mirroring (cw <-> ccw); body height from the skeleton.
- ``generator``: the masked token transformer (MoMask style) conditioned on the jump.
- ``training`` / ``sampling``: ``train_motion_generator`` and ``sample_jump``.
- ``classify``: joints -> jump type, revolutions, take-off/landing, with confidence.
"""
