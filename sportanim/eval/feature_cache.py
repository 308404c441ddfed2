"""Extractor features of the real clips, computed once and reused.

An experiment scores several generated folders (base, diffusion only, staged) against the
same real clips: without a cache every ``evaluate`` call runs the FID / FVD / FID-VID
networks over the real videos again. A ``FeatureCache`` keeps each real video's features
in memory and, given a folder, on disk (one ``.npy`` per entry), keyed by

- the video file's sha256 (its bytes, not its path: a moved file still hits);
- the extractor's identity (``Extractor.identity``: the published or in-domain weights
  file's sha256, or a hash of the random stand-in's weights);
- the protocol (``evaluate.protocol_of``: input handling, windows, frames per video; the
  in-domain 3D CNN serves FVD and FID-VID under two protocols) and
  ``FEATURES_VERSION``, bumped whenever the feature code changes what it returns.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sportanim.eval.weights import sha256_of
from sportanim.io.files import write_npy

FEATURES_VERSION = "1"


class FeatureCache:
    """Features by (video bytes, extractor, protocol); ``folder`` None keeps them in memory only."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder else None
        self._memory: dict[str, np.ndarray] = {}
        self._file_hashes: dict[tuple, str] = {}
        self.hits = 0
        self.misses = 0

    def file_hash(self, path: Path) -> str:
        """sha256 of a file, remembered while its size and mtime stay the same."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._file_hashes:
            self._file_hashes[key] = sha256_of(path)
        return self._file_hashes[key]

    def key(self, video: Path, extractor: str, protocol: str) -> str:
        text = "|".join((self.file_hash(video), extractor, protocol, FEATURES_VERSION))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def features(self, video: str | os.PathLike, extractor: str, protocol: str,
                 compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached features of ``video``, else ``compute()``'s, stored for next time."""
        key = self.key(Path(video), extractor, protocol)
        found = self._memory.get(key)
        path = self.folder / f"{key}.npy" if self.folder else None
        if found is None and path is not None and path.is_file():
            found = self._memory[key] = np.load(path, allow_pickle=False)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        value = self._memory[key] = np.asarray(compute())
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_npy(path, value)
        return value
