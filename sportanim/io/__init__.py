"""The base I/O layer: every file sportanim reads or writes goes through here.

- ``files``: atomic file and folder writes (temporary sibling, then rename), text, JSON, npz.
- ``video``: the one PyAV decoder and encoder (rotation, variable frame rate, one-line errors).
- ``stats``: ``stats.json`` (per-joint mean/std (24, 3) mm) read, checked, written.
- ``joints``: joints ``.npz`` files (``joints`` (T, 24, 3) mm, ``intrinsics``) read, checked, written.
- ``tensors``: ``torch.save`` files as plain tensors only, safetensors files, small models
  (``config.json`` + ``model.safetensors``, sized on the meta device first); one-line refusals.

It imports nothing from sportanim but ``skeleton`` (the joint count), so every other layer
may use it.
"""
