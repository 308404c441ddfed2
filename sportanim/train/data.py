"""Training data: FSJD joints as normalised windows, and a sampler exact across world sizes.

``JointsDataset`` reads every clip's ``joints`` (T, 24, 3) mm once, cuts windows of
``frames`` frames and normalises them with a mean/std (24, 3): a few MB even for the
paper's 1,072 clips, so it lives in memory and needs no DataLoader workers.

``GlobalSampler`` decides which samples each optimizer step sees, independently of how
many processes share the work: the samples form one endless stream (a seeded permutation
per epoch, epochs back to back), micro-step ``g`` takes stream positions
``[g * B, (g + 1) * B)`` and process ``r`` of ``W`` takes the ``r``-th contiguous slice of
``B / W`` of them. One process with batch B and two with B/2 each therefore see the same
global batch, in the same order; the position is a pure function of the step, so resuming
needs only the step number (saved in the checkpoint).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sportanim import fsjd
from sportanim.io.joints import read_joints
from sportanim.io.stats import STATS_NAME, read_joint_stats
from sportanim.skeleton import normalize


class DataError(ValueError):
    """A dataset that cannot be trained on: empty, malformed, wrong joint count."""


# --------------------------------------------------------------------------- stats


@dataclass
class JointStats:
    """Per-joint, per-axis normalisation ``(joints - mean) / std``; mean/std (24, 3) mm."""

    mean: np.ndarray
    std: np.ndarray
    source: str  # where they came from (a path, or "computed from ...")

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "source": self.source}


def read_stats_file(path: Path) -> JointStats:
    """mean/std from a ``stats.json`` (FSJD's, or one an export wrote), or from a folder
    holding one, or upstream's ``mean.npy`` + ``std.npy`` (``sportanim.io.stats``)."""
    path = Path(path)
    try:
        mean, std = read_joint_stats(path)
    except (OSError, ValueError) as err:
        raise DataError(str(err)) from None
    source = path / STATS_NAME if (path / STATS_NAME).is_file() else path  # the file, not its folder
    return JointStats(mean, std, str(source))


def choose_stats(how: str, data_root: Path, init: Path | None) -> JointStats:
    """The normalisation to train with (config ``data.stats``): ``init``: the init
    weights' ``stats.json`` (what they were trained with; our exports carry one);
    ``data``: the dataset's ``stats.json`` (computed from its clips if missing); ``auto``:
    init's if it has one, else the data's; anything else is a path for ``read_stats_file``,
    e.g. upstream's folder with ``mean.npy``/``std.npy`` when fine-tuning the released
    4DMoT, which was trained with those."""
    init_stats = init / STATS_NAME if init is not None and Path(init).is_dir() else None
    if how == "auto":
        how = "init" if init_stats is not None and init_stats.is_file() else "data"
    if how == "init":
        if init_stats is None or not init_stats.is_file():
            raise DataError(f"data.stats=init but the init weights ({init}) have no {STATS_NAME}; "
                            "use data.stats=data or a stats.json path")
        return read_stats_file(init_stats)
    if how == "data":
        path = Path(data_root) / STATS_NAME
        if path.is_file():
            return read_stats_file(path)
        stats = fsjd.compute_stats(data_root, read_records(Path(data_root), "all"))  # as `sportanim data stats`
        return JointStats(np.asarray(stats["mean"]), np.asarray(stats["std"]), f"computed from {data_root}")
    return read_stats_file(Path(how))


# --------------------------------------------------------------------------- dataset


class JointsDataset:
    """Normalised joint windows ``(N, T, 24, 3)`` float32 from an FSJD folder."""

    def __init__(self, root: str | Path, frames: int, stats: JointStats, split: str = "train", stride: int = 0,
                 quality: str = "passed"):
        self.root, self.frames = Path(root), int(frames)
        self.stats = stats
        every = read_records(self.root, split)
        records = passed_only(self.root, split, every) if quality == "passed" else every
        kept = {r.id for r in records}
        self.flagged = [r.id for r in every if r.id not in kept]  # left out by the quality gates
        windows, names, short, sources = [], [], [], []
        for record in records:
            joints = _read_joints(self.root, record)
            if len(joints) < self.frames:
                short.append(record.id)
                continue
            for start in _window_starts(len(joints), self.frames, stride or self.frames):
                windows.append(joints[start:start + self.frames])
                names.append(f"{record.id}@{start}")
                sources.append((record, start))
        if not windows:
            raise DataError(f"{self.root}: no clip of split={split} has the {self.frames} frames a window needs "
                            f"({len(short)} clips are shorter, e.g. {short[:3]}); lower data.frames or add clips")
        with np.errstate(all="ignore"):
            data = normalize(np.stack(windows), stats.mean, stats.std).astype(np.float32)
        self.samples = torch.from_numpy(np.ascontiguousarray(data))  # (N, T, 24, 3)
        self.names = names
        self.sources = sources  # (record, first frame) of each window
        self.skipped = short

    def __len__(self) -> int:
        return len(self.samples)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The samples ``indices`` as a batch: ``{"joints": (b, T, 24, 3)}``. (A dataset for
        the DiT adds its precomputed latents here; the trainer passes the dict on.)"""
        return {"joints": self.samples[indices]}

    def fingerprint(self) -> str:
        """Hash of the windows' names and values: a resumed run must see the same data."""
        h = hashlib.sha256("\n".join(self.names).encode())
        h.update(self.samples.numpy().tobytes())
        return h.hexdigest()[:16]


def passed_quality(record: fsjd.ClipRecord) -> bool:
    """False only for a clip whose quality gates failed (``sportanim data build`` flags them and
    keeps them, with reasons); clips without a quality record pass."""
    return record.quality.get("passed", True) is not False


def read_records(root: Path, split: str, quality: str = "all") -> list[fsjd.ClipRecord]:
    """The manifest records of ``split`` (``all``: every clip); with ``quality="passed"`` without
    the clips whose quality gates failed. ``DataError`` if none."""
    if not root.is_dir():
        raise DataError(f"--data {root} is not a folder; give an FSJD dataset folder (manifest.jsonl, clips/)")
    try:
        records = fsjd.read_manifest(root)
    except FileNotFoundError as err:
        raise DataError(str(err)) from None
    chosen = [r for r in records if split == "all" or r.split == split]
    if not chosen:
        splits = sorted({r.split for r in records})
        raise DataError(f"{root}: no clips to train on: the manifest has {len(records)} clips, none with "
                        f"split={split} (splits present: {splits or 'none'}); set data.split or add clips")
    return passed_only(root, split, chosen) if quality == "passed" else chosen


def passed_only(root: Path, split: str, records: list[fsjd.ClipRecord]) -> list[fsjd.ClipRecord]:
    """``records`` without the clips whose quality gates failed; ``DataError`` if none is left."""
    kept = [r for r in records if passed_quality(r)]
    if not kept:
        reasons = sorted({why for r in records for why in r.quality.get("reasons", [])})
        raise DataError(f"{root}: all {len(records)} clips of split={split} failed the builder's quality gates "
                        f"({'; '.join(reasons[:3]) or 'no reasons recorded'}); fix the clips, or train on "
                        "them anyway with data.quality=all")
    return kept


def _read_joints(root: Path, record: fsjd.ClipRecord) -> np.ndarray:
    """``joints`` (T, 24, 3) float64 of one clip (``sportanim.io.joints.read_joints``), with
    errors that name clip and file."""
    try:
        joints = read_joints(root / record.joints, f"clip {record.id}", record.frames)  # as `data stats` checks
    except (OSError, ValueError) as err:
        raise DataError(str(err)) from None
    return joints.astype(np.float64)


def _window_starts(length: int, frames: int, stride: int) -> list[int]:
    """Window starts every ``stride`` frames; the last window ends at the clip's end."""
    starts = list(range(0, length - frames + 1, stride))
    if starts[-1] != length - frames:
        starts.append(length - frames)
    return starts


# --------------------------------------------------------------------------- sampler


class GlobalSampler:
    """Sample indices per micro-step, identical for any number of processes (see module doc)."""

    def __init__(self, num_samples: int, micro_batch: int, seed: int):
        if num_samples < 1 or micro_batch < 1:
            raise ValueError(f"need >= 1 sample and batch, got {num_samples} and {micro_batch}")
        self.num_samples, self.micro_batch, self.seed = num_samples, micro_batch, seed
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(_mix(self.seed, epoch, 0x5EED))
            self._epoch, self._perm = epoch, torch.randperm(self.num_samples, generator=g)
        return self._perm

    def positions(self, micro_step: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """Stream positions of process ``rank`` at global micro-step ``micro_step``, (B / W,)."""
        if self.micro_batch % world:
            raise ValueError(f"micro batch {self.micro_batch} does not split over {world} processes")
        per = self.micro_batch // world
        start = micro_step * self.micro_batch + rank * per
        return torch.arange(start, start + per, dtype=torch.int64)

    def indices(self, positions: torch.Tensor) -> torch.Tensor:
        """Dataset indices of stream ``positions``."""
        out = torch.empty_like(positions)
        for i, p in enumerate(positions.tolist()):
            out[i] = self._permutation(p // self.num_samples)[p % self.num_samples]
        return out


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (stable across runs and platforms)."""
    h = hashlib.sha256(",".join(str(int(v)) for v in values).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def sample_seed(seed: int, position: int, purpose: int) -> int:
    """The seed of one sample's draws of kind ``purpose`` at a micro-step of seed ``seed``
    (``position``: its place in the global stream): independent of the world size."""
    return _mix(seed, position, purpose)


def step_seed(seed: int, micro_step: int) -> int:
    """The seed of global micro-step ``micro_step``: the same on every process and after a
    resume. Specs seed their own randomness (codebook re-seeding, noise) from it."""
    return _mix(seed, micro_step, 0xC0DE)
