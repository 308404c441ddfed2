"""``sportanim synth``: write synthetic clips as an FSJD dataset folder."""

from __future__ import annotations

import os
from contextlib import nullcontext
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportanim import fsjd
from sportanim.progress import progress_bar
from sportanim.synth.references import athlete_references
from sportanim.synth.world import DOMAINS, clip_motion, make_clip, motion_domain

MIN_FRAMES = 9
MAX_SIZE = 4096  # frame side in pixels
MAX_CLIP_BYTES = 2 << 30  # one clip's uint8 frames, rendered in memory
MAX_CLIPS = 100_000  # clips (or programmes) per folder: the job list and manifest are built up front
MAX_REFERENCES = 8


@dataclass(frozen=True)
class SynthConfig:
    out: Path
    domain: str = "both"  # jump | daily | both
    clips: int = 16
    size: int = 64  # square frames; the renderer also takes (width, height)
    frames: int = 49
    fps: float = 30.0
    seed: int = 0
    motions: tuple[str, ...] = ()  # restrict to these motions (empty: all of the domain)
    eval_fraction: float = 0.1
    workers: int = 0  # 0: one per CPU core
    references: int = 0  # pictures of each clip's athlete elsewhere in its scene (synth.references)
    overwrite: bool = False

    def validate(self) -> "SynthConfig":
        if self.domain not in ("jump", "daily", "both"):
            raise ValueError(f"--domain must be jump, daily or both, got {self.domain!r}")
        if not 1 <= self.clips <= MAX_CLIPS:
            raise ValueError(f"--clips must be in [1, {MAX_CLIPS}], got {self.clips}")
        if self.frames < MIN_FRAMES:
            raise ValueError(f"--frames must be at least {MIN_FRAMES}, got {self.frames}")
        if self.size < 16 or self.size % 16:
            raise ValueError(f"--size must be a positive multiple of 16 (video codecs and the VAE need it), got {self.size}")
        check_in_memory(self.size, self.frames, f"--size {self.size} x --frames {self.frames}")
        if not 0 < self.fps <= 240:
            raise ValueError(f"--fps must be in (0, 240], got {self.fps}")
        if not 0 <= self.references <= MAX_REFERENCES:
            raise ValueError(f"--references must be in [0, {MAX_REFERENCES}], got {self.references}")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"--eval-fraction must be in [0, 1), got {self.eval_fraction}")
        for m in self.motions:
            domain = motion_domain(m)  # raises on an unknown motion
            if self.domain != "both" and domain != self.domain:
                raise ValueError(f"motion {m!r} is a {domain} motion, not {self.domain}")
        return self

    def motion_list(self) -> tuple[str, ...]:
        if self.motions:
            return tuple(self.motions)
        if self.domain == "both":
            return DOMAINS["jump"] + DOMAINS["daily"]
        return DOMAINS[self.domain]


def check_in_memory(size: int, frames: int, flags: str) -> None:
    """``ValueError`` naming ``flags`` unless ``frames`` square frames of side ``size`` fit
    the in-memory rendering of one clip (checked before anything is rendered)."""
    if size > MAX_SIZE or frames * size * size * 3 > MAX_CLIP_BYTES:
        raise ValueError(f"{flags}: a clip is rendered in memory; at most {MAX_SIZE} px and "
                         f"{MAX_CLIP_BYTES >> 30} GiB of frames per clip")


def synthesize(config: SynthConfig, show_progress: bool = True) -> list[fsjd.ClipRecord]:
    """Render ``config.clips`` clips into an FSJD folder at ``config.out``; nothing is left
    there unless every clip was written."""
    config = config.validate()
    motions = config.motion_list()
    n_eval = int(round(config.clips * config.eval_fraction))
    jobs = [(config, i, clip_motion(i, motions), "eval" if i >= config.clips - n_eval else "train")
            for i in range(config.clips)]
    workers = min(config.workers or os.cpu_count() or 1, config.clips)
    with fsjd.output_dir(config.out, overwrite=config.overwrite) as tmp:
        records = []
        with progress_bar(f"synth {config.clips} clips", total=config.clips, enabled=show_progress) as advance, \
                ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            run = pool.map if pool else map  # clips are independent: order and bytes do not depend on workers
            for rec in run(_write_one, [tmp] * len(jobs), *zip(*jobs)):
                records.append(rec)
                advance()
        fsjd.write_manifest(tmp, records)
        fsjd.write_stats(tmp, fsjd.compute_stats(tmp, records))
    return records


def _write_one(root: Path, config: SynthConfig, index: int, motion: str, split: str) -> fsjd.ClipRecord:
    clip = make_clip(config.seed, index, motion, (config.size, config.size), config.frames, config.fps)
    record = fsjd.ClipRecord(
        id=clip.id, video=f"clips/{clip.id}.mp4", joints=f"clips/{clip.id}.npz", fps=config.fps,
        size=[config.size, config.size], frames=config.frames, split=split, labels=clip.labels,
        source={"kind": "synthetic", "generator": "sportanim.synth", "seed": config.seed, "index": index},
        quality={"passed": True, "reasons": []},
    )
    extras = {"extrinsics": clip.camera.extrinsics_mm().astype("float32")}
    if config.references:  # an rng stream of their own: the clip's files stay what they were
        rng = np.random.default_rng([config.seed, 5, index])
        extras["references"], extras["reference_joints"] = athlete_references(
            clip.world_joints, clip.camera, clip.appearance, rng, config.references)
    return fsjd.write_clip(root, record, clip.frames, clip.joints, clip.camera.intrinsics[0].astype("float32"), extras)
