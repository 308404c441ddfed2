"""A 4DMoT tokenizer for jumps: fine-tune the tokenizer on jump clips seen by the generator's
canonical camera, so the codes the jump generator works over can hold a jump.

Why: the tiny base's tokenizer learnt everyday motion in broadcast cameras. Round-tripped
through it, synthetic jumps of held-out athletes keep their revolutions (within 0.25) in 8%
of cases and a ballistic pelvis (g 8-11.5 m/s^2) in 17% (``benchmarks/motion_generator.py``'s
tokenizer ceiling); a generator over those codes cannot do better. The jump generator only
ever sees one camera (``sportanim.motion.frames``: skater at a fixed distance and side, the
take-off at the origin), so the tokenizer is fine-tuned on exactly that: every jump clip of
the given FSJD folders (and its mirror image) -> canonical world -> canonical camera joints.

``train_jump_tokenizer(data_dirs, out)`` writes ``out/`` as a run folder:

- ``canonical/``: those joints as an FSJD folder of joints only (no videos: only the
  tokenizer stage reads it; kept so a cut-off run resumes on the same data);
- ``train/``: the trainer's run (``sportanim.train``, strategy ``tokenizer``, from the shipped
  tiny base's tokenizer unless ``init`` says otherwise): checkpoints, logs, ``final/``;
- ``tokenizer/``: the export (``model.safetensors``, ``config.json``, ``stats.json``, the
  trainer's ``training.json`` and ``jump_tokenizer.json``: data, command, steps, seconds) that
  ``sportanim motion train --tokenizer OUT/tokenizer`` takes.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from sportanim import fsjd
from sportanim.io.files import atomic_dir, write_npz
from sportanim.motion import frames
from sportanim.motion.clips import JumpClip, count_by_source, load_jump_clips
from sportanim.motion.tokens import FrozenTokenizer

CANONICAL_SIZE = 16  # the record's picture size: nothing is rendered, the intrinsics only say how it would look
RECORD_NAME = "jump_tokenizer.json"


def write_canonical_folder(clips: list[JumpClip], out: Path, fps: float = 30.0) -> list[fsjd.ClipRecord]:
    """``clips`` as an FSJD folder of canonical-camera joints (mm; no videos) at ``out``."""
    K = frames.canonical_intrinsics(CANONICAL_SIZE)
    records = []
    for clip in clips:
        joints = frames.world_to_canonical(clip.world)
        record = fsjd.ClipRecord(
            id=clip.id, fps=fps, size=(CANONICAL_SIZE, CANONICAL_SIZE), frames=len(joints), split="train",
            labels={"domain": "jump", "motion": clip.type, "athlete": clip.athlete, "revolutions": clip.revolutions,
                    "takeoff_frame": clip.takeoff, "landing_frame": clip.landing},
            source={"kind": clip.source, "video": "none", "camera": "canonical"})
        (out / record.joints).parent.mkdir(parents=True, exist_ok=True)
        write_npz(out / record.joints, {"joints": joints.astype(np.float32), "intrinsics": K})
        records.append(record)
    fsjd.write_manifest(out, records)
    fsjd.write_stats(out, fsjd.compute_stats(out, records))
    return records


def train_jump_tokenizer(data_dirs, out, steps: int = 4000, seed: int = 0, init: str | Path | None = None,
                         resume: bool = False, overwrite: bool = False, show_progress: bool = True,
                         command: str | None = None) -> dict:
    """Fine-tune the tokenizer on the jump clips of ``data_dirs`` (FSJD folders) in the
    canonical camera; ``out`` as the module says. ``init``: a tokenizer export or pipeline
    weights folder to start from (default: the shipped tiny base). ``resume``: continue a
    cut-off run in ``out``. Returns the record (also ``out/tokenizer/training.json``)."""
    from sportanim.train.config import load_config
    from sportanim.train.trainer import shipped_init
    from sportanim.train.trainer import train as run_training

    out = Path(out)
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    if out.exists() and any(out.iterdir()) and not (resume or overwrite):
        raise FileExistsError(f"{out} exists and is not empty: --resume to continue it, --overwrite to replace it")
    if overwrite and not resume and out.exists():
        shutil.rmtree(out)
    started = time.time()
    clips = load_jump_clips(data_dirs)
    lengths = sorted({len(c.world) for c in clips})
    if len(lengths) != 1:
        raise ValueError(f"jump clips of {lengths} frames: train on one clip length (re-import with --frames)")
    canonical = out / "canonical"
    if not (canonical / fsjd.MANIFEST_NAME).is_file():
        with atomic_dir(canonical) as tmp:
            write_canonical_folder(clips, Path(tmp))
    config = load_config("tiny", {"strategy": "tokenizer", "steps": steps, "seed": seed, "data.frames": lengths[0]})
    start = init if init is not None else shipped_init(config)
    result = run_training(config, canonical, out / "train", init=start, resume=resume, show_progress=show_progress)
    export = Path(result.exports["tokenizer"])
    record = {"command": command, "data": [str(d) for d in data_dirs], "clips": len(clips),
              "clips_by_source": count_by_source(clips),
              "frames": lengths[0], "steps": steps, "seed": seed, "init": str(start) if start else "scratch",
              "camera": "canonical (sportanim.motion.frames)", "seconds": round(time.time() - started, 1)}
    with atomic_dir(out / "tokenizer", overwrite=True) as tmp:
        FrozenTokenizer(export).copy_to(tmp)
        (Path(tmp) / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return record
