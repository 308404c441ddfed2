"""Weights shipped inside the package: the tiny base model (``tiny/``), trained from scratch on
synthetic daily motion by ``sportanim pretrain --preset tiny --install``; its
``pretrain.json`` records the command, seed, per-stage wall time and metrics; the
synthetic-world keypoint detector of the motion metrics (``keypoints/``, trained by
``sportanim.eval.keypoint_training.train_keypoint_detector``; ``training.json`` records how);
the in-domain metric extractors (``extractors/``), trained on the synthetic world by
``sportanim.eval.domain_training.train_domain_extractors``; ``extractors.json`` records their
checksums, the training call and their held-out accuracy; and ``motion/``, the jump generator
over the tiny tokenizer's codes, with ``motion/classifier/`` the jump classifier (``sportanim
motion train``), each with a ``record.json`` (command, seed, data, wall time, losses or
metrics, sha256 of the weights)."""

from __future__ import annotations

from pathlib import Path

TINY_BASE = Path(__file__).resolve().parent / "tiny"
EXTRACTORS = Path(__file__).resolve().parent / "extractors"


def default_weights() -> Path:
    """The shipped tiny base weights folder; ``FileNotFoundError`` naming the fix if absent."""
    if not has_default_weights():
        raise FileNotFoundError(f"no tiny base weights in {TINY_BASE}; run "
                                "`sportanim pretrain --preset tiny --install`")
    return TINY_BASE


def has_default_weights() -> bool:
    return (TINY_BASE / "pipeline.json").is_file()
