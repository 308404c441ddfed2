"""Motion beyond tokens: ISU element codes, a jump generator over 4DMoT codes, a jump
classifier, and the edits and retargeting of feedback videos.

- ``elements``: ``3Lz`` <-> ``("lutz", 3.0)``, with the refusals a coach's typo needs.
- ``frames``: clip joints -> world -> a canonical broadcast camera the generator works in, and
  back; mirroring (cw <-> ccw); body height from the skeleton.
- ``generator``: the masked token transformer (MoMask style) conditioned on the jump.
- ``training`` / ``sampling``: ``train_motion_generator`` and ``sample_jump``.
- ``classify``: joints -> jump type, revolutions, take-off/landing, with confidence.
- ``edits``: slow motion, mirror, view change, flight scaling on 3D joints.
- ``retarget``: the athlete of a photo, and a motion carried over to their proportions.
"""
