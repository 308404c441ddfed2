"""``evaluate``: score a folder of generated clips against the real FSJD folder.

Clips are matched by id: the real folder is an FSJD dataset; the generated one is either an
FSJD dataset too or a plain folder of ``ID.mp4`` (optionally with ``ID.npz`` holding
"joints" (T, 24, 3), e.g. poses estimated from the generated video or a tokenizer's
reconstruction). Only ids present in both are scored. Each video is decoded once; all
metrics are computed in that one pass. An ``ID.reference.png`` beside a generated video is
the reference image it was generated from (e.g. another athlete's picture, cross-drive):
the appearance metric compares with it instead of the real clip's first frame.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportanim import progress
from sportanim.eval import extractors as X
from sportanim.eval import fidelity, pose, video, weights as W
from sportanim.eval.feature_cache import FeatureCache
from sportanim.eval.frechet import FewSamplesWarning, frechet_distance_features
from sportanim.eval.motion_fidelity import load_intrinsics
from sportanim.fsjd import MANIFEST_NAME, SPLITS, read_manifest
from sportanim.generation import read_image
from sportanim.io.files import write_json
from sportanim.io.joints import read_joints
from sportanim.io.video import read_video

POSE_METRICS = ("mpjpe", "root_mpjpe", "pa_mpjpe", "accel_error", "motion_fid")
VIDEO_METRICS = ("fvd", "fid_vid", "fid", "psnr", "ssim", "lpips")
MOTION_METRICS = fidelity.METRICS  # motion_pck, motion_akd, appearance: run when named
ALL_METRICS = POSE_METRICS + VIDEO_METRICS + MOTION_METRICS
# name -> (unit, lower is better)
METRIC_INFO = {"mpjpe": ("mm", True), "root_mpjpe": ("mm", True), "pa_mpjpe": ("mm", True),
               "accel_error": ("mm/frame^2", True), "motion_fid": ("", True),
               "fvd": ("", True), "fid_vid": ("", True), "fid": ("", True),
               "psnr": ("dB", False), "ssim": ("", False), "lpips": ("", True),
               **fidelity.INFO}
EXTRACTOR_OF = {"fid": "inception", "fvd": "i3d", "fid_vid": "r3d50", "lpips": "alexnet"}
PROTOCOL = {
    "fid": "InceptionV3 pool3 (2048) of every frame, 299x299 bilinear (pytorch-fid)",
    "fvd": f"I3D Kinetics-400 logits of {X.FVD_WINDOW}-frame windows (StyleGAN-V)",
    "fid_vid": f"3D ResNet-50 Kinetics features, {X.FIDVID_SEGMENT}-frame segments "
               "averaged per video, 112x112 (DisCo)",
}
DEFAULT_OUT_NAME = "evaluation.json"
REFERENCE_SUFFIX = ".reference.png"  # ID.reference.png: the image a generated clip was made from


@dataclass
class ClipPair:
    id: str
    real_video: Path
    real_joints: Path
    gen_video: Path | None
    gen_joints: Path | None

    @property
    def reference(self) -> Path | None:
        """The written reference image beside the generated video, if there is one."""
        if self.gen_video is None:
            return None
        path = self.gen_video.with_name(self.id + REFERENCE_SUFFIX)
        return path if path.is_file() else None


# ------------------------------------------------------------------------------ inputs


def parse_metrics(metrics: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``"fvd,fid-vid"`` or a list -> canonical names; None stays None (= all that apply)."""
    if metrics is None:
        return None
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [n.strip().lower().replace("-", "_") for n in names if n.strip()]
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(ALL_METRICS)}")
    return tuple(dict.fromkeys(names))


def _generated_index(root: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """id -> (video, joints) of a generated folder (FSJD or ID.mp4 [+ ID.npz])."""
    def existing(path: Path) -> Path | None:
        return path if path.is_file() else None

    if (root / MANIFEST_NAME).is_file():
        return {r.id: (existing(root / r.video), existing(root / r.joints))
                for r in read_manifest(root)}
    ids = sorted({p.stem for p in root.glob("*.mp4")} | {p.stem for p in root.glob("*.npz")})
    return {i: (existing(root / f"{i}.mp4"), existing(root / f"{i}.npz")) for i in ids}


def match_clips(real_dir: str | os.PathLike, generated_dir: str | os.PathLike,
                split: str | None = None) -> tuple[list[ClipPair], list[str]]:
    """Clip pairs present in both folders (real records of ``split`` only, if given), and
    notes on clips left out."""
    real_dir, generated_dir = Path(real_dir), Path(generated_dir)
    if not generated_dir.is_dir():
        raise FileNotFoundError(f"generated folder not found: {generated_dir}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"--split {split!r}: unknown split; FSJD splits are {', '.join(SPLITS)}")
    records = [r for r in read_manifest(real_dir) if split is None or r.split == split]
    if split is not None and not records:
        raise ValueError(f"{real_dir}: no clip of split {split!r}")
    generated = _generated_index(generated_dir)
    pairs = [ClipPair(r.id, real_dir / r.video, real_dir / r.joints, *generated[r.id])
             for r in records if r.id in generated]
    if not pairs:
        raise ValueError(f"no clip id of {real_dir}{f' (split {split})' if split else ''} "
                         f"is in {generated_dir}; generated files must be named ID.mp4 / "
                         "ID.npz after the real clips' ids")
    notes = []
    real_ids = {r.id for r in records}
    if len(records) > len(pairs):
        notes.append(f"{len(records) - len(pairs)} real clips have no generated counterpart")
    extra = sorted(set(generated) - real_ids)
    if extra:
        notes.append(f"{len(extra)} generated clips have no real counterpart, e.g. {extra[0]}")
    return pairs, notes


def _choose_metrics(requested: tuple[str, ...] | None, pairs: list[ClipPair]) -> tuple[str, ...]:
    """Requested metrics (checked against the data), or every metric the data allows."""
    have_joints = all(p.gen_joints for p in pairs)
    have_video = all(p.gen_video for p in pairs)
    if requested is None:
        chosen = (POSE_METRICS if have_joints else ()) + (VIDEO_METRICS if have_video else ())
        if not chosen:
            raise ValueError("the generated clips have neither all videos nor all joints")
        return chosen
    for names, ok, what in ((POSE_METRICS, have_joints, "joints (ID.npz)"),
                            (VIDEO_METRICS + MOTION_METRICS, have_video, "videos (ID.mp4)")):
        if not ok and set(requested) & set(names):
            missing = next(p.id for p in pairs if not (p.gen_joints if names is POSE_METRICS
                                                       else p.gen_video))
            raise ValueError(f"metrics {sorted(set(requested) & set(names))} need generated "
                             f"{what} for every clip; clip {missing} has none")
    return requested


def _load_joints(path: Path, clip_id: str) -> np.ndarray:
    return read_joints(path, f"clip {clip_id}").astype(np.float64)


# ----------------------------------------------------------------------------- scoring


def protocol_of(name: str, fid_frames: int | None = None, net: X.Extractor | None = None) -> str:
    """How a distribution metric's features are made (reported, and part of the cache key):
    the published protocol, or ``net``'s own (in-domain extractors)."""
    protocol = net.protocol if net is not None and net.protocol else PROTOCOL[name]
    if name == "fid" and fid_frames:
        return protocol + f"; {fid_frames} frames per video, evenly spread"
    return protocol


class _Accumulator:
    """Per-clip values and features, turned into results at the end. The real clips'
    extractor features come from ``cache`` when it holds them."""

    def __init__(self, metrics: tuple[str, ...], nets: dict[str, X.Extractor],
                 fid_frames: int | None = None, cache: FeatureCache | None = None):
        self.metrics, self.nets, self.fid_frames, self.cache = metrics, nets, fid_frames, cache
        self.pose_pairs: tuple[list, list] = ([], [])
        self.frames: dict[str, list[np.ndarray]] = {m: [] for m in ("psnr", "ssim", "lpips")}
        self.features: dict[str, tuple[list, list]] = {m: ([], []) for m in ("fid", "fvd", "fid_vid")}

    def add_joints(self, real: np.ndarray, generated: np.ndarray, clip_id: str) -> None:
        if real.shape != generated.shape:
            raise ValueError(f"clip {clip_id}: generated joints {generated.shape} differ from "
                             f"the real {real.shape}")
        self.pose_pairs[0].append(real)
        self.pose_pairs[1].append(generated)

    def add_videos(self, real_path: Path, generated: np.ndarray, clip_id: str) -> None:
        """Score one clip; the real video is decoded only if some metric needs its frames."""
        wants = set(self.metrics)
        decoded: list[np.ndarray] = []

        def real_frames() -> np.ndarray:
            if not decoded:
                decoded.append(read_video(real_path)[0])
            return decoded[0]

        if wants & {"psnr", "ssim", "lpips"}:
            real = real_frames()
            video.check_pair(real, generated, clip_id)
        if "psnr" in wants:
            self.frames["psnr"].append(video.psnr_frames(real, generated))
        if "ssim" in wants:
            self.frames["ssim"].append(video.ssim_frames(real, generated))
        if "lpips" in wants:
            self.frames["lpips"].append(video.lpips_frames(self.nets["lpips"], real, generated))
        for name in ("fid", "fvd", "fid_vid"):
            if name not in wants:
                continue
            net, key = self.nets[name], EXTRACTOR_OF[name]
            if self.cache is None:
                real_features = X.features(key, net, real_frames(), self.fid_frames)
            else:
                real_features = self.cache.features(
                    real_path, net.identity(), protocol_of(name, self.fid_frames, net),
                    lambda: X.features(key, net, real_frames(), self.fid_frames))
            self.features[name][0].append(np.atleast_2d(real_features))
            self.features[name][1].append(np.atleast_2d(X.features(key, net, generated, self.fid_frames)))

    def results(self, resamples: int = 0, seed: int = 0) -> dict[str, dict]:
        """Every metric's entry; the Frechet ones (FID, FVD, FID-VID, motion FID) carry
        ``std``, a seeded bootstrap over clips, when ``resamples`` >= 2."""
        from sportanim.eval import spread

        out = {}
        if set(self.metrics) & set(POSE_METRICS):
            real, gen = self.pose_pairs
            values = pose.pose_metrics(real, gen)
            for name in set(self.metrics) & set(values):
                out[name] = {"value": values[name], "calibrated": True}
            if "motion_fid" in self.metrics:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", FewSamplesWarning)
                    out["motion_fid"] = {**pose.motion_fid(real, gen), "calibrated": True}
                out["motion_fid"]["warnings"] = [str(w.message) for w in caught]
                std = spread.motion_fid_spread(real, gen, resamples, seed)
                if std is not None:
                    out["motion_fid"].update(std=std, resamples=resamples)
        for name in ("psnr", "ssim", "lpips"):
            if name in self.metrics:
                frames = np.concatenate(self.frames[name])
                out[name] = {"value": float(frames.mean()), "frames": len(frames),
                             "calibrated": True}
        for name in ("fid", "fvd", "fid_vid"):
            if name in self.metrics:
                real, gen = (np.concatenate(side) for side in self.features[name])
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", FewSamplesWarning)
                    value = frechet_distance_features(real, gen)
                out[name] = {"value": value, "n_real": len(real), "n_generated": len(gen),
                             "protocol": protocol_of(name, self.fid_frames, self.nets[name]),
                             "warnings": [str(w.message) for w in caught]}
                std = spread.frechet_spread(*self.features[name], resamples, seed)
                if std is not None:
                    out[name].update(std=std, resamples=resamples)
        for name in EXTRACTOR_OF:
            if name in out:
                out[name].update(self.nets[name].provenance())
        for name, entry in out.items():
            unit, lower = METRIC_INFO[name]
            entry.update(unit=unit, lower_is_better=lower)
        return {name: out[name] for name in ALL_METRICS if name in out}


def _build_extractors(metrics: tuple[str, ...], weights: dict | None, seed: int,
                      require_weights: bool, fallback: str) -> tuple[dict[str, X.Extractor], list[str]]:
    nets, notes = {}, []
    for name in metrics:
        key = EXTRACTOR_OF.get(name)
        if key is None:
            continue
        spec = W.SPECS[key]
        if require_weights and W.resolve(spec, (weights or {}).get(key)) is None:
            raise W.WeightsError(f"{name} needs published weights: {spec.describe()}")
        nets[name], note = X.select(key, (weights or {}).get(key), seed, fallback)
        if note and note not in notes:
            notes.append(note)
    return nets, notes


def evaluate(real_dir: str | os.PathLike, generated_dir: str | os.PathLike,
             metrics: str | list[str] | None = None, out: str | os.PathLike | None = None,
             weights: dict[str, str] | None = None, split: str | None = None, seed: int = 0,
             require_weights: bool = False, fid_frames: int | None = None,
             cache: FeatureCache | None = None, extractors: str = X.IN_DOMAIN,
             show_progress: bool = True, keypoints: str | None = None, resamples: int = 0) -> dict:
    """Score ``generated_dir`` against ``real_dir``; returns the results and writes them as
    JSON to ``out`` (default ``generated_dir/evaluation.json``).

    ``metrics``: names from ``ALL_METRICS`` (or "fid-vid" style); None = every pose and
    video metric the generated files allow (the motion-fidelity and appearance metrics
    ``MOTION_METRICS`` run when named). ``keypoints``: their 2D keypoint detector, None for
    the shipped synthetic-world one, "mediapipe" for real footage, or a detector folder.
    ``weights``: paths by extractor key (inception, i3d, r3d50, alexnet), else the
    SPORTANIM_* environment variables; metrics without them use ``extractors``: "in-domain"
    (FVD, FID-VID, FID on sportanim's networks trained on the synthetic world, ``kind:
    "in-domain"``; LPIPS, which has none, and any whose files are missing on seeded random
    ones) or "random" (all on seeded random extractors, ``calibrated: False``);
    ``require_weights`` refuses to run without the published files. ``fid_frames``: frames
    per video for FID, evenly spread (None: all, the protocol; fewer is faster and noisier).
    ``cache``: reuse the real clips' FID / FVD / FID-VID features across calls (one cache
    for several generated folders scored against the same real clips). ``resamples``: FID,
    FVD, FID-VID and motion FID also get ``std``, the spread over that many bootstrap
    resamples of the clips (seeded by ``seed``; 0: none)."""
    if resamples < 0:
        raise ValueError(f"resamples must be >= 0 (0: no spread), got {resamples}")
    start = time.perf_counter()
    hits, misses = (cache.hits, cache.misses) if cache else (0, 0)
    pairs, notes = match_clips(real_dir, generated_dir, split)
    chosen = _choose_metrics(parse_metrics(metrics), pairs)
    nets, weight_notes = _build_extractors(chosen, weights, seed, require_weights, extractors)
    acc = _Accumulator(chosen, nets, fid_frames, cache)
    wants_pose = bool(set(chosen) & set(POSE_METRICS))
    wants_video = bool(set(chosen) & set(VIDEO_METRICS))
    motion = None
    if set(chosen) & set(MOTION_METRICS):
        motion = fidelity.FidelityAccumulator(chosen, fidelity.build_detector(keypoints),
                                              fidelity.calibrated_lpips(weights))
    with progress.progress_bar("evaluate", len(pairs), enabled=show_progress) as advance:
        for pair in pairs:
            if wants_pose:
                acc.add_joints(_load_joints(pair.real_joints, pair.id),
                               _load_joints(pair.gen_joints, pair.id), pair.id)
            generated = read_video(pair.gen_video)[0] if wants_video or motion else None
            if wants_video:
                acc.add_videos(pair.real_video, generated, pair.id)
            if motion:
                reference = read_image(pair.reference) if pair.reference else None
                motion.add(pair.id, generated, _load_joints(pair.gen_joints or pair.real_joints, pair.id),
                           load_intrinsics(pair.real_joints, pair.id), pair.real_video, reference)
            advance()
    results = {"real": str(Path(real_dir).resolve()),
               "generated": str(Path(generated_dir).resolve()),
               "clips": [p.id for p in pairs],
               "metrics": {**acc.results(resamples, seed), **(motion.results() if motion else {})},
               "notes": notes + weight_notes, "seconds": time.perf_counter() - start}
    if cache is not None:
        results["real_features"] = {"cached": cache.hits - hits, "computed": cache.misses - misses}
    write_json(Path(out) if out else Path(generated_dir) / DEFAULT_OUT_NAME, results)
    return results
