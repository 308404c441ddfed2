"""Joints files: an ``.npz`` with ``joints`` float32 (T, 24, 3) SMPL-24 camera-space mm,
usually ``intrinsics`` float32 (3, 3) or (T, 3, 3), and optional extra numeric arrays
(e.g. ``extrinsics`` (T, 3, 4), a build's ``source_frame``). One validator for what is
written and what is read, one reader with errors that name the file (and the clip).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sportanim.io.files import FormatError, write_npz
from sportanim.skeleton import NUM_JOINTS

# Names extras may not use: the arrays validate_arrays fills itself and np.savez's arguments.
RESERVED_ARRAYS = ("frames", "joints", "intrinsics", "file", "allow_pickle")
_BROKEN = (OSError, ValueError, EOFError, zipfile.BadZipFile)


# -------------------------------------------------------------------------- checking


def check_joints(joints, where: str, frames: int | None = None, error: type[ValueError] = ValueError,
                 dtype: np.dtype | None = None) -> np.ndarray:
    """``joints`` checked to be a numeric (T, 24, 3) array (T == ``frames`` if given) of
    finite values, cast to ``dtype`` first if given (a float64 too large for float32 counts
    as inf). Raises ``error`` with one line naming ``where``."""
    joints = np.asarray(joints)
    expected = f"({'frames' if frames is None else frames}, {NUM_JOINTS}, 3)"
    shape = joints.shape
    if (joints.dtype.kind not in "iuf" or joints.ndim != 3 or shape[2] != 3 or shape[1] != NUM_JOINTS
            or (frames is not None and shape[0] != frames)):
        skeleton = (f": {shape[1]} joints per frame, expected {NUM_JOINTS} (SMPL-24 order); convert "
                    "the skeleton first" if joints.ndim == 3 and shape[2] == 3 and shape[1] != NUM_JOINTS
                    else "")
        raise error(f"{where}: joints must be a float array of shape {expected}, got "
                    f"{joints.dtype} {shape}{skeleton}")
    return _finite(joints, "joints", where, error, dtype)


def check_intrinsics(intrinsics, where: str, frames: int, error: type[ValueError] = ValueError,
                     dtype: np.dtype | None = None) -> np.ndarray:
    """``intrinsics`` checked to be a numeric (3, 3) or (``frames``, 3, 3) array of finite
    values (cast to ``dtype`` first if given); ``error`` naming ``where`` otherwise."""
    intrinsics = np.asarray(intrinsics)
    shapes = [(3, 3), (frames, 3, 3)]
    if intrinsics.shape not in shapes or intrinsics.dtype.kind not in "iuf":
        raise error(f"{where}: intrinsics must be a float array of shape "
                    f"{' or '.join(map(str, shapes))}, got {intrinsics.dtype} {intrinsics.shape}")
    return _finite(intrinsics, "intrinsics", where, error, dtype)


def _finite(array: np.ndarray, name: str, where: str, error: type[ValueError],
            dtype: np.dtype | None) -> np.ndarray:
    if dtype is not None:
        with np.errstate(over="ignore"):  # too large for the dtype -> inf, reported below
            array = array.astype(dtype)
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise error(f"{where}: {name} has NaN/inf values (first index {rows}); drop or repair "
                    "those frames")
    return array


def validate_arrays(joints, intrinsics, extras: dict | None = None, where: str = "joints",
                    frames: int | None = None) -> dict[str, np.ndarray]:
    """What a joints file holds, checked before anything is written: float32 ``joints``
    (T, 24, 3) and ``intrinsics`` (3, 3) or (T, 3, 3), plus ``extras`` as given (numeric,
    identifier names other than ``RESERVED_ARRAYS``). ``ValueError`` naming ``where``."""
    joints = check_joints(joints, where, frames, dtype=np.float32)
    intrinsics = check_intrinsics(intrinsics, where, len(joints), dtype=np.float32)
    arrays = {"joints": joints, "intrinsics": intrinsics}
    for name, value in (extras or {}).items():
        if not (isinstance(name, str) and name.isidentifier()) or name in RESERVED_ARRAYS:
            raise ValueError(f"{where}: extra array name {name!r} must be an identifier "
                             f"other than {RESERVED_ARRAYS}")
        value = np.asarray(value)
        if value.dtype.kind not in "biufc":
            raise ValueError(f"{where}: extra array {name!r} must be numeric, got {value.dtype}")
        arrays[name] = value
    return arrays


# ----------------------------------------------------------------------- reading/writing


def write_joints(path: str | os.PathLike, joints, intrinsics, extras: dict | None = None,
                 where: str | None = None) -> Path:
    """Check (``validate_arrays``) and write a joints file atomically, byte-deterministically."""
    path = Path(path)
    return write_npz(path, validate_arrays(joints, intrinsics, extras, where or str(path)))


def read_arrays(path: str | os.PathLike, names: Iterable[str] | None = None,
                where: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of the joints file ``path`` (only ``names`` if given). ``FileNotFoundError``
    if it is missing, ``FormatError`` if it is not a readable npz or lacks a name; the
    messages name the file and ``where`` (e.g. "clip c01")."""
    path = Path(path)
    of = f" ({where})" if where else ""
    if not path.is_file():
        raise FileNotFoundError(f"joints file not found: {path}{of}; re-create the clip or fix "
                                "the manifest")
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic != b"PK\x03\x04":  # every npz is a zip; anything else (text, a pickle) is not one
        raise FormatError(f"{path}: unreadable npz{of}: not a zip archive, which every npz is; "
                          "re-create it with numpy.savez")
    try:
        archive = np.load(path, allow_pickle=False)
    except _BROKEN as error:
        raise FormatError(f"{path}: unreadable npz{of}: {error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FormatError(f"{path}: not an npz archive{of}; re-create the clip")
    with archive:
        names = archive.files if names is None else list(names)
        missing = [name for name in names if name not in archive.files]
        if missing:
            raise FormatError(f"{path}: missing arrays {missing}{of} (it holds {archive.files})")
        try:
            return {name: archive[name] for name in names}
        except _BROKEN as error:
            raise FormatError(f"{path}: unreadable npz{of}: {error}") from None


def read_joints(path: str | os.PathLike, where: str | None = None,
                frames: int | None = None) -> np.ndarray:
    """The ``joints`` array of a joints file, as stored (dtype kept), checked by
    ``check_joints`` (``FormatError`` naming ``where`` and the file)."""
    path = Path(path)
    joints = read_arrays(path, ["joints"], where)["joints"]
    return check_joints(joints, f"{where} ({path})" if where else str(path), frames, error=FormatError)
