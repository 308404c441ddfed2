"""Atomic files and folders: a crash, a kill or a full disk never leaves a half-written
file or folder under its final name, so whatever a reader finds there is complete.

A file is written to a hidden sibling ``.{name}.tmp-XXXXXXXX`` (same folder, so the final
``os.replace`` is an atomic rename on the same file system) and moved onto its name only
when the write succeeded; on any error the temporary is removed. A folder is built the
same way in a hidden sibling folder and renamed into place whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class FormatError(ValueError):
    """A file that exists but does not hold what its format promises (bad JSON, missing
    array, wrong shape)."""


def temp_sibling(path: Path) -> Path:
    """A fresh hidden name next to ``path``: ``.{name}.tmp-XXXXXXXX`` (not created)."""
    return path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")


# ----------------------------------------------------------------------------- files


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh, empty temporary sibling of ``path`` to write to; on success move it
    onto ``path`` with ``os.replace``, on any error remove it and re-raise. ``OSError``
    naming ``path`` if its folder is missing or not writable."""
    path = Path(path)
    tmp = _reserve_temp_file(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno is None or error.filename not in (None, str(tmp)):
            raise
        # a failed write (ENOSPC, EIO) names no file, or the hidden temporary: name the target
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reserve_temp_file(path: Path) -> Path:
    """Create an empty ``temp_sibling(path)`` (exclusively, so two writers never share one)."""
    while True:
        tmp = temp_sibling(path)
        try:
            with open(tmp, "x"):
                return tmp
        except FileExistsError:
            continue
        except OSError as error:
            raise OSError(f"cannot write to {path}: {error.strerror or error}; check that "
                          "its folder exists and is writable") from None


def write_text(path: str | os.PathLike, text: str, make_parents: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; creates the folder unless told not to."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | os.PathLike, data, indent: int | None = 2, sort_keys: bool = False,
               ensure_ascii: bool = False) -> Path:
    """``data`` as JSON plus a newline, atomically. Finite numbers only (a NaN means a bug
    upstream: ``ValueError`` naming the file); numpy arrays and scalars become lists and
    Python numbers."""
    path = Path(path)
    try:
        text = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii,
                          allow_nan=False, default=json_default)
    except ValueError as error:
        raise ValueError(f"{path}: can hold finite numbers only ({error})") from None
    return write_text(path, text + "\n")


def json_default(value: object) -> object:
    """``json.dumps(default=...)`` for numpy values: arrays to lists, scalars to Python numbers."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_json_object(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``; ``FormatError`` naming the file if it is not valid JSON
    or not an object (``FileNotFoundError`` if it is missing)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez`` the arrays (uncompressed, in name order, no pickles) atomically.
    Byte-deterministic: numpy writes each member through ``ZipFile.open(name, "w")``,
    whose timestamp is the fixed 1980-01-01 rather than the current time."""
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "wb") as file:  # a file object: no ".npz" appended
        np.savez(file, allow_pickle=False, **{name: arrays[name] for name in sorted(arrays)})
    return path


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` one array (no pickles) atomically."""
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "wb") as file:  # a file object: no ".npy" appended
        np.save(file, array, allow_pickle=False)
    return path


# --------------------------------------------------------------------------- folders


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder with nothing half-written: yields a fresh hidden sibling folder
    ``.{name}.tmp-XXXXXXXX``; on success it becomes ``path`` (replacing an existing
    folder only if empty or ``overwrite``), on an exception it is removed.

    Checks up front (before the body runs) that ``path``'s parent is writable and that
    ``path`` is not a non-empty folder (unless ``overwrite``)."""
    path = Path(os.path.abspath(path))  # "out/." and "." get a real name
    _check_target(path, overwrite)
    with _writer_lock(path):
        _clean_stale(path)
        _check_target(path, overwrite)  # as it is now that no other writer can change it
        tmp = _make_temp_dir(path)
        try:
            yield tmp
            _move_into_place(tmp, path, overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """One writer per folder at a time: an exclusive ``flock`` on ``.{name}.lock`` beside it;
    a second writer is refused at once (not queued: it would overwrite the first one's result).
    The lock file is removed on release; a writer that opened it just before is made to
    notice (its file is no longer the one at the path) and refused too."""
    import fcntl

    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not lock.exists() or os.stat(lock).st_ino != os.fstat(fd).st_ino:
                raise BlockingIOError
        except BlockingIOError:
            raise BlockingIOError(f"another process is writing {path} right now ({lock} is locked); "
                                  "wait for it to finish or choose another output folder") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _clean_stale(path: Path) -> None:
    """Remove what a killed writer of ``path`` left (its temp folders; an old folder moved
    aside is put back if ``path`` is gone). Only called under the writer lock, so nothing
    else is using them."""
    for leftover in sorted(path.parent.glob(f".{path.name}.old-*")):
        if not path.exists():
            os.rename(leftover, path)
        else:
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in path.parent.glob(f".{path.name}.tmp-*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _check_target(path: Path, overwrite: bool) -> None:
    """Raise a clear ``OSError`` unless ``path`` can be created or replaced."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder; choose another path")
    if path.is_dir() and not overwrite and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not empty; pass --overwrite "
                              "(overwrite=True) to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot write to {path}: {error.strerror or error}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {path}: folder {path.parent} is not writable")


def _make_temp_dir(path: Path) -> Path:
    """Create an empty ``temp_sibling(path)`` folder."""
    while True:
        tmp = temp_sibling(path)
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue
        except OSError as error:
            raise OSError(f"cannot write to {path}: {error.strerror or error}") from None


def _move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``path``; an old non-empty ``path`` is replaced if ``overwrite``
    (moved aside first and put back if the rename fails)."""
    if overwrite and path.is_dir() and any(path.iterdir()):
        old = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
        os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rename(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, path)  # also replaces an empty folder
    except OSError as error:
        raise FileExistsError(f"cannot move the new folder to {path}: {error.strerror}; "
                              "was it filled meanwhile? pass --overwrite to replace it") from None
