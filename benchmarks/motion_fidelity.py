"""Do the motion-fidelity and appearance metrics mean something? Measured on held-out
synthetic clips (a seed the shipped keypoint detector never saw: other athletes, motions'
instances and cameras), jump and daily motions alike.

1. Motion fidelity (``sportanim.eval.motion_fidelity``): the detector runs on each
   ground-truth video, scored against (a) the clip's own joints (the ceiling: must reach
   PCK >= 0.9; beside it, as a diagnostic, the PCK forgiving whole-body left/right swaps),
   (b) its joints shuffled in time, (c) the joints of the next held-out clip
   of the same domain; PCK at 0.1 (the metric's default) and 0.2 of the body size, AKD in
   px and normalised, and the share of joints found; per domain. (d) Videos with no skater
   (the empty rink of each clip's camera, re-rendered; a flat grey video) must give PCK 0.
2. Appearance (``sportanim.eval.appearance``): the reference is each clip's first frame;
   its colour distance to every clip's frames, grouped as the same clip, another clip of
   the same athlete, and another athlete's clip. AUC = the chance that a same-athlete pair
   is closer than an other-athlete pair (1 separates perfectly, 0.5 is chance). LPIPS of
   body crops is measured too when the AlexNet weights are found (SPORTANIM_ALEXNET).
3. Detector speed: 49-frame clips per second at 64 px, and at 512 px (frames upscaled from
   64 px; the detector resizes them back, so this measures decode-free resize + network).

    python benchmarks/motion_fidelity.py [--clips 48] [--seed 7] [--keypoints DIR]

Writes benchmarks/results/motion_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sportanim import fsjd
from sportanim.eval import appearance as A
from sportanim.io.files import write_json
from sportanim.eval.keypoint_training import clip_camera, render_dataset
from sportanim.eval.keypoints import Keypoints2D, load_keypoint_detector
from sportanim.eval.motion_fidelity import REPORTED_THRESHOLDS, mean_of, motion_scores
from sportanim.skeleton import MIRROR
from sportanim.synth.render import render_rink, to_uint8

ROOT = Path(__file__).resolve().parent


def _scores(keypoints, joints, K) -> dict:
    row = {f"pck@{t}": motion_scores(keypoints, joints, K, t).pck for t in REPORTED_THRESHOLDS}
    row.update({k: v for k, v in motion_scores(keypoints, joints, K).summary().items()
                if k in ("akd_px", "akd", "found")})
    return row


def side_agnostic_pck(keypoints, joints, K) -> float | None:
    """Diagnostic, not a metric: mean over frames of the better PCK of the detections and
    of the detections with left and right swapped (a front/back confusion of the whole
    body), at the default threshold."""
    mirrored = Keypoints2D(keypoints.xy[:, list(MIRROR)], keypoints.confidence[:, list(MIRROR)],
                           keypoints.provided, keypoints.size)
    both = np.stack([motion_scores(k, joints, K).pck_frames for k in (keypoints, mirrored)])
    frames = both[:, np.isfinite(both).all(0)]
    return float(frames.max(0).mean()) if frames.size else None


def _summary(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k not in ("clip", "domain", "other")]
    return {k: _round(mean_of([r[k] for r in rows])) for k in keys}


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def motion_study(detector, root: Path, seed: int) -> dict:
    records = fsjd.read_manifest(root)
    loaded = {r.id: fsjd.load_clip(root, r) for r in records}
    detections = {r.id: detector.detect(loaded[r.id]["frames"]) for r in records}
    rng = np.random.default_rng(seed)
    tables: dict[str, list[dict]] = {"own_joints": [], "time_shuffled_joints": [],
                                     "other_clip_joints": [], "empty_rink_video": [],
                                     "grey_video": []}
    for k, record in enumerate(records):
        clip, kp = loaded[record.id], detections[record.id]
        joints, K = clip["joints"], clip["intrinsics"]
        same_domain = [r for r in records if r.labels["domain"] == record.labels["domain"]]
        other = same_domain[(same_domain.index(record) + 1) % len(same_domain)]
        tag = {"clip": record.id, "domain": record.labels["domain"]}
        tables["own_joints"].append({**tag, **_scores(kp, joints, K),
                                     "side_agnostic_pck": side_agnostic_pck(kp, joints, K)})
        shuffled = joints[rng.permutation(len(joints))]
        tables["time_shuffled_joints"].append({**tag, **_scores(kp, shuffled, K)})
        tables["other_clip_joints"].append({**tag, "other": other.id,
                                            **_scores(kp, loaded[other.id]["joints"], K)})
        empty = to_uint8(render_rink(clip_camera(clip, tuple(record.size))))
        tables["empty_rink_video"].append({**tag, **_scores(detector.detect(empty), joints, K)})
        grey = np.full_like(clip["frames"], 128)
        tables["grey_video"].append({**tag, **_scores(detector.detect(grey), joints, K)})
    out = {}
    for name, rows in tables.items():
        domains = sorted({r["domain"] for r in rows})
        out[name] = {"all": _summary(rows),
                     **{d: _summary([r for r in rows if r["domain"] == d]) for d in domains}}
    return {"summary": out, "per_clip": tables["own_joints"]}


def _auc(positive: list[float], negative: list[float]) -> float:
    """P(a positive distance < a negative one), ties counting half (Mann-Whitney)."""
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((p < n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def _describe(values: list[float]) -> dict:
    v = np.asarray(values)
    return {"n": int(v.size), "mean": _round(float(v.mean()), 2),
            **{f"p{q}": _round(float(np.percentile(v, q)), 2) for q in (5, 25, 50, 75, 95)}}


def appearance_study(detector, root: Path, lpips=None) -> dict:
    records = fsjd.read_manifest(root)
    frames = {r.id: fsjd.load_clip(root, r)["frames"] for r in records}
    keypoints = {r.id: detector.detect(frames[r.id]) for r in records}
    video = {r.id: A.part_colours(frames[r.id], keypoints[r.id]) for r in records}
    reference = {r.id: A.part_colours(frames[r.id][:1], detector.detect(frames[r.id][:1])) for r in records}
    groups: dict[str, list[float]] = {"same_clip": [], "same_athlete_other_clip": [], "other_athlete": []}
    lpips_groups: dict[str, list[float]] = {k: [] for k in groups}
    for ref in records:
        for vid in records:
            group = ("same_clip" if ref.id == vid.id else "same_athlete_other_clip"
                     if ref.labels["athlete"] == vid.labels["athlete"] else "other_athlete")
            d = A.colour_distance(reference[ref.id], video[vid.id])["delta_e"]
            if d is not None:
                groups[group].append(d)
            if lpips is not None and len(lpips_groups[group]) < 200:  # bounds the cost
                value = A.lpips_body(lpips.net, detector, frames[ref.id][0], frames[vid.id], keypoints[vid.id])
                if value is not None:
                    lpips_groups[group].append(value)
    out = {"athletes": len({r.labels["athlete"] for r in records}),
           "delta_e": {k: _describe(v) for k, v in groups.items() if v},
           "auc_same_athlete_other_clip_vs_other_athlete": _round(_auc(groups["same_athlete_other_clip"], groups["other_athlete"]))
           if groups["same_athlete_other_clip"] else None,
           "auc_same_clip_vs_other_athlete": _round(_auc(groups["same_clip"], groups["other_athlete"]))}
    if lpips is None:
        out["lpips_body"] = "skipped: no AlexNet weights (set SPORTANIM_ALEXNET to alexnet-owt-7be5be79.pth)"
    else:
        out["lpips_body"] = {k: _describe(v) for k, v in lpips_groups.items() if v}
        if lpips_groups["same_athlete_other_clip"]:
            out["lpips_body"]["auc_same_athlete_other_clip_vs_other_athlete"] = _round(
                _auc(lpips_groups["same_athlete_other_clip"], lpips_groups["other_athlete"]))
    return out


def speed(detector, root: Path, repeats: int = 3) -> dict:
    clip = fsjd.load_clip(root, fsjd.read_manifest(root)[0])["frames"]
    big = np.repeat(np.repeat(clip, 8, 1), 8, 2)  # 512 px
    out = {}
    for name, frames in (("64px", clip), ("512px", big)):
        detector.detect(frames)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            detector.detect(frames)
        out[f"clips_per_s_{name}"] = round(repeats / (time.perf_counter() - start), 2)
    out["frames_per_clip"] = int(len(clip))
    out["torch_threads"] = torch.get_num_threads()
    return out


def main() -> None:
    from sportanim.eval.fidelity import calibrated_lpips

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=48, help="held-out clips to render (jump and daily in turn)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the held-out clips (not one the detector trained on)")
    parser.add_argument("--keypoints", type=Path, default=None, help="keypoint detector folder (default: the shipped one)")
    parser.add_argument("--flip-average", action="store_true", help="average each frame's heatmaps with its mirror image's")
    parser.add_argument("--data", type=Path, default=None, help="keep the rendered clips in this folder (default: temporary)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "motion_fidelity.json")
    args = parser.parse_args()
    detector = load_keypoint_detector(args.keypoints, flip_average=args.flip_average)
    record = json.loads((Path(detector.source) / "training.json").read_text())
    if args.seed in (record["train_seed"], record["heldout_seed"]):
        raise SystemExit(f"--seed {args.seed} is one the detector trained or was tuned on; pick another")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = render_dataset((args.data or Path(tmp)) / f"heldout-s{args.seed}", args.clips, args.seed, 64, 49)
        result = {"detector": detector.provenance(), "clips": args.clips, "seed": args.seed,
                  "motion": motion_study(detector, root, args.seed),
                  "appearance": appearance_study(detector, root, calibrated_lpips(None)),
                  "speed": speed(detector, root)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out, result)
    print(json.dumps(result["motion"]["summary"], indent=1))
    print(json.dumps({k: v for k, v in result.items() if k in ("appearance", "speed", "seconds")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
