"""Quality of the tiny base model: does it reconstruct motion, and do its videos
follow the driving motion?

1. Tokenizer MPJPE (mm, camera space) on the held-out daily clips of the pretraining data;
   also root-aligned, the root alone and per motion.
2. Tokenizer MPJPE on the real NLF joints of ``../shared/data/mtvcrafter_samples`` (never
   seen in training): with the base's own (synthetic) normalisation stats, and with the
   upstream mean/std that ship beside those samples, in 49-frame windows.
3. Driving, on eval clips (athlete A), each generated from A's first frame as the reference:
   - own reference (the paper's protocol): driven by A's joints; also by A's joints shuffled in
     time (does the video change with the motion?);
   - cross-drive (feedback generation): driven by the joints of the next eval clip of another
     athlete B, placed as they were in B's camera; the video should show A (costume, scene)
     doing B's motion where B's joints say.
   Scored by motion PCK (``sportanim.eval.motion_fidelity``: the synthetic keypoint detector's
   joints within 0.1 x body size of the driving joints' projections) and by joints on body (a
   generated pixel is "body" where it differs from the empty-rink render of A's camera, which
   the synthetic world re-renders exactly, by more than ``THRESHOLD`` on some channel; the
   share of projected joints landing on body pixels). Ceilings: the ground-truth clip and its
   VAE round trip. Each video is also scored against the joints that did NOT drive it (a video
   that ignores the motion scores the same against both; the ground truth's own score against
   shuffled joints says how far apart the two are). Appearance: CIE76 colour distance of the
   cross-drive video's body parts to A's reference and to B's first frame (B's costume). The
   share of pixels taken for body is reported beside: a video that differs from the rink
   everywhere would put every joint "on body". A contact sheet of 4 cross-drive cases goes to
   ``docs/cross_drive.png``.

    python benchmarks/tiny_base.py [--weights DIR] [--data runs/pretrain-tiny/data] [--clips 12] [--sheet PNG]

Writes benchmarks/results/tiny_base.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from sportanim import fsjd
from sportanim.skeleton import project
from sportanim.synth.world import make_clip
from sportanim.synth.render import render_rink, to_uint8

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent.parent / "shared" / "data" / "mtvcrafter_samples"
LIMBS = [4, 5, 7, 8, 10, 11, 18, 19, 20, 21, 22, 23]  # knees, ankles, feet, elbows, wrists, hands: what moves
THRESHOLD = 40  # of 255: H.264 and VAE noise on the ice stays well below, a body well above


def body_mask(frames: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """(T, H, W) bool: pixels that differ from the empty rink by more than THRESHOLD."""
    return (np.abs(frames.astype(np.int16) - empty.astype(np.int16)).max(-1) > THRESHOLD)


def joints_on_body(mask: np.ndarray, joints: np.ndarray, intrinsics: np.ndarray) -> float:
    """Share of projected joints (inside the frame) that land on ``mask``."""
    t, h, w = mask.shape
    px = np.round(project(joints, intrinsics)).astype(int)  # (T, 24, 2)
    inside = (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
    frame = np.broadcast_to(np.arange(t)[:, None], inside.shape)
    hits = mask[frame[inside], px[..., 1][inside], px[..., 0][inside]]
    return float(hits.mean()) if hits.size else 0.0


def tokenizer_on_daily(weights: Path, data: Path) -> dict:
    """MPJPE of the held-out daily clips: plain (the target), root-aligned, root alone, per motion."""
    from sportanim.train.pretrain import tokenizer_reconstructions

    plain, aligned, root, per_motion = [], [], [], {}
    for record, joints, recon in tokenizer_reconstructions(weights / "tokenizer", data, "eval"):
        error = float((recon - joints).norm(dim=-1).mean())
        plain.append(error)
        aligned.append(float(((recon - recon[:, :1]) - (joints - joints[:, :1])).norm(dim=-1).mean()))
        root.append(float((recon[:, 0] - joints[:, 0]).norm(dim=-1).mean()))
        per_motion.setdefault(record.labels["motion"], []).append(error)
    return {"clips": len(plain), "mpjpe_mm": round(float(np.mean(plain)), 2),
            "root_aligned_mm": round(float(np.mean(aligned)), 2), "root_position_mm": round(float(np.mean(root)), 2),
            "per_motion_mm": {m: round(float(np.mean(e)), 1) for m, e in sorted(per_motion.items())}}


def tokenizer_on_real(weights: Path) -> dict:
    from sportanim.data.upstream import load_upstream_pkl
    from sportanim.models.tokenizer import MotionTokenizer

    if not (SHARED / "sampled_data.pkl").is_file():
        return {"skipped": f"{SHARED} not present"}
    tok = MotionTokenizer.from_pretrained(weights / "tokenizer").eval()
    base = json.loads((weights / "stats.json").read_text())
    stats = {"base (synthetic daily) stats": (np.asarray(base["mean"]), np.asarray(base["std"])),
             "upstream mean/std": (np.load(SHARED / "mean.npy").reshape(24, 3), np.load(SHARED / "std.npy").reshape(24, 3))}
    out = {}
    for i, sample in enumerate(load_upstream_pkl(SHARED / "sampled_data.pkl")):
        pose = sample["pose"].astype(np.float32)
        name = Path(str(sample.get("video_path", f"sample{i}"))).stem
        row = {"frames": int(len(pose)), "depth_m": round(float(pose[:, 0, 2].mean()) / 1000, 2)}
        for label, (mean, std) in stats.items():
            errs = []
            for s in range(0, len(pose) - 48, 49):
                x = torch.from_numpy(pose[s:s + 49])
                m, sd = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
                with torch.no_grad():
                    recon = tok(((x - m) / sd)[None]).recon[0] * sd + m
                errs.append(float((recon - x).norm(dim=-1).mean()))
            row[label] = round(float(np.mean(errs)), 1) if errs else None
        out[name] = row
    return out


def _other_athlete(records: list, k: int) -> int:
    """The next eval clip (cyclically) whose athlete is not clip ``k``'s."""
    for step in range(1, len(records)):
        j = (k + step) % len(records)
        if records[j].labels["athlete"] != records[k].labels["athlete"]:
            return j
    raise ValueError("cross-drive needs eval clips of two athletes at least")


def drive_study(weights: Path, data: Path, clips: int, steps: int, guidance: float, sheet: Path | None) -> dict:
    """Own-reference and cross-drive generation of eval clips, scored by motion PCK (the
    synthetic keypoint detector), joints on body and appearance (module notes)."""
    from sportanim.eval.appearance import appearance_distance
    from sportanim.eval.keypoints import load_keypoint_detector
    from sportanim.eval.motion_fidelity import motion_scores
    from sportanim.generation import Generator, ModelSpec, Sampling
    from sportanim.models.vae import decode_latents, encode_video

    generator = Generator.load(ModelSpec(weights=weights))  # no bar per generation: 36 would bury the results
    detector = load_keypoint_detector()
    records = [r for r in fsjd.read_manifest(data) if r.split == "eval"][:clips]
    rows, cases = [], []
    for k, record in enumerate(records):
        seed, index, motion = re.fullmatch(r"s(\d+)_(\d+)_(\w+)", record.id).groups()
        clip = make_clip(int(seed), int(index), motion, tuple(record.size), record.frames)
        empty = to_uint8(render_rink(clip.camera))
        loaded = fsjd.load_clip(data, record)
        frames, joints, K = loaded["frames"], loaded["joints"], loaded["intrinsics"]
        shuffled = joints[np.random.default_rng(k).permutation(len(joints))]
        other_record = records[_other_athlete(records, k)]
        other = fsjd.load_clip(data, other_record)  # athlete B: its motion drives athlete A's reference
        sampling = Sampling(steps=steps, guidance=guidance, seed=k)
        videos = {"own": generator.generate(frames[0], joints, sampling).frames,
                  "shuffled": generator.generate(frames[0], shuffled, sampling).frames,
                  "cross": generator.generate(frames[0], other["joints"], sampling).frames}
        with torch.no_grad():
            x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
            vae_video = decode_latents(generator.pipe.vae, encode_video(generator.pipe.vae, x, sample=False))
            videos["vae"] = ((vae_video[0].permute(1, 2, 3, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        videos["ground_truth"] = frames
        points = {name: detector.detect(v) for name, v in videos.items()}
        masks = {name: body_mask(v, empty) for name, v in videos.items()}

        def pck(name: str, driving: np.ndarray) -> float | None:
            return motion_scores(points[name], driving, K).pck

        cross_to_a = appearance_distance(detector, frames[0], videos["cross"], points["cross"])["delta_e"]
        cross_to_b = appearance_distance(detector, other["frames"][0], videos["cross"], points["cross"])["delta_e"]
        rows.append({
            "clip": record.id, "athlete": record.labels["athlete"],
            "cross_motion_of": other_record.id, "cross_athlete": other_record.labels["athlete"],
            "pck_ground_truth": pck("ground_truth", joints),
            "pck_ground_truth_vs_shuffled": pck("ground_truth", shuffled),
            "pck_vae_round_trip": pck("vae", joints),
            "pck_own": pck("own", joints),
            "pck_own_vs_shuffled": pck("own", shuffled),
            "pck_shuffled_motion_vs_shuffled": pck("shuffled", shuffled),
            "pck_shuffled_motion_vs_true": pck("shuffled", joints),
            "pck_cross_vs_driving": pck("cross", other["joints"]),
            "pck_cross_vs_reference_path": pck("cross", joints),
            "on_body_ground_truth": joints_on_body(masks["ground_truth"], joints, K),
            "on_body_vae_round_trip": joints_on_body(masks["vae"], joints, K),
            "on_body_own": joints_on_body(masks["own"], joints, K),
            "on_body_own_vs_shuffled": joints_on_body(masks["own"], shuffled, K),
            "on_body_cross_vs_driving": joints_on_body(masks["cross"], other["joints"], K),
            "on_body_cross_vs_reference_path": joints_on_body(masks["cross"], joints, K),
            "on_body_own_limbs": joints_on_body(masks["own"], joints[:, LIMBS], K),
            # Guards the measure: a video that differs from the rink everywhere puts every joint "on body".
            "body_area_ground_truth": float(masks["ground_truth"].mean()),
            "body_area_own": float(masks["own"].mean()),
            "body_area_cross": float(masks["cross"].mean()),
            "delta_e_cross_to_reference_athlete": cross_to_a,
            "delta_e_cross_to_driving_athlete": cross_to_b,
        })
        if len(cases) < 4:
            cases.append((frames[0], other["joints"], other["intrinsics"], videos["cross"]))
    if sheet is not None and cases:
        contact_sheet(cases, sheet)
    keys = [k for k in rows[0] if k not in ("clip", "athlete", "cross_motion_of", "cross_athlete")] if rows else []
    mean = {k: round(float(np.mean([r[k] for r in rows if r[k] is not None])), 3) for k in keys}
    closer = [r["delta_e_cross_to_reference_athlete"] < r["delta_e_cross_to_driving_athlete"] for r in rows
              if None not in (r["delta_e_cross_to_reference_athlete"], r["delta_e_cross_to_driving_athlete"])]
    return {"clips": len(rows), "steps": steps, "guidance": guidance, "on_body_threshold": THRESHOLD,
            "pck_threshold": "0.1 x the larger side of the driving joints' 2D box", "mean": mean,
            "cross_closer_to_reference_athlete": round(float(np.mean(closer)), 3) if closer else None,
            "per_clip": rows}


def contact_sheet(cases: list, path: Path, times: tuple[float, ...] = (0.0, 0.5, 1.0), scale: int = 3) -> None:
    """One row per cross-drive case: reference | (driving skeleton, generated) at ``times``."""
    from PIL import Image

    from sportanim.skeleton import draw_skeleton

    rows = []
    for reference, joints, intrinsics, video in cases:
        t, h, w, _ = video.shape
        skeleton = draw_skeleton(joints, intrinsics, w, h)
        picks = [int(round(x * (t - 1))) for x in times]
        gap = np.full((h, 2, 3), 255, np.uint8)
        tiles = [reference, gap]
        for i in picks:
            tiles += [skeleton[i], video[i], gap]
        rows.append(np.concatenate(tiles, 1))
        rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    image = Image.fromarray(np.concatenate(rows[:-1], 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path)


def main() -> None:
    from sportanim.weights import default_weights

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="pipeline weights folder (default: the shipped tiny base)")
    parser.add_argument("--data", type=Path, default=Path("runs/pretrain-tiny/data"),
                        help="the pretraining data folder (its eval split is measured)")
    parser.add_argument("--clips", type=int, default=12, help="eval clips in the drive study")
    parser.add_argument("--sheet", type=Path, default=ROOT.parent / "docs" / "cross_drive.png",
                        help="contact sheet of 4 cross-drive cases (reference | driving skeleton | generated)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "tiny_base.json", help="result JSON")
    parser.add_argument("--steps", type=int, default=25, help="DPM sampling steps")
    parser.add_argument("--guidance", type=float, default=3.0, help="motion guidance scale")
    args = parser.parse_args()
    weights = args.weights or default_weights()
    started = time.perf_counter()
    result = {
        "weights": str(weights),
        "tokenizer_daily_eval": tokenizer_on_daily(weights, args.data),
        "tokenizer_mpjpe_mm_real_nlf": tokenizer_on_real(weights),
        "drive": drive_study(weights, args.data, args.clips, args.steps, args.guidance, args.sheet),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "drive"}, indent=2))
    print(json.dumps(result["drive"]["mean"], indent=2))
    print("cross-drive video closer in colour to the reference athlete:", result["drive"]["cross_closer_to_reference_athlete"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
