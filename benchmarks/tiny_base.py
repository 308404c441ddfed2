"""Quality of the tiny base model: does it reconstruct motion, and do its videos
follow the driving motion?

1. Tokenizer MPJPE (mm, camera space) on the held-out daily clips of the pretraining data;
   also root-aligned, the root alone and per motion.
2. Tokenizer MPJPE on the real NLF joints of ``../shared/data/mtvcrafter_samples`` (never
   seen in training): with the base's own (synthetic) normalisation stats, and with the
   upstream mean/std that ship beside those samples, in 49-frame windows.
3. Joints on body: for eval clips, the reference is the clip's first frame and the driving
   motion its joints; a generated pixel is "body" where it differs from the empty-rink render
   of the same camera (the synthetic world re-renders it exactly) by more than ``THRESHOLD``
   on some channel. The share of projected joints (in frame) landing on body pixels is
   measured for: the ground-truth clip (ceiling), the VAE round trip (ceiling of anything the
   DiT can produce), the video generated from the true motion, the same video scored against
   time-shuffled joints, a video generated from time-shuffled joints scored against the true
   ones and against the shuffled ones that drove it, and a video of this reference driven by
   the next eval clip's motion scored against that motion and against this clip's; limb
   joints (knees, ankles, feet, elbows, wrists, hands) also on their own. Daily clips are
   filmed by a still camera while the skater glides, so joints from another moment land off
   the body (the ground truth's own shuffled score says how far). The share of pixels taken
   for body is reported beside: a video that differs from the rink everywhere would put every
   joint "on body".

    python benchmarks/tiny_base.py [--weights DIR] [--data runs/pretrain-tiny/data] [--clips 12]

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


def joints_on_body_study(weights: Path, data: Path, clips: int, steps: int, guidance: float) -> dict:
    from sportanim.generation import Generator, ModelSpec, Sampling
    from sportanim.models.vae import decode_latents, encode_video

    generator = Generator.load(ModelSpec(weights=weights))  # no bar per generation: 36 would bury the results
    records = [r for r in fsjd.read_manifest(data) if r.split == "eval"][:clips]
    rows = []
    for k, record in enumerate(records):
        seed, index, motion = re.fullmatch(r"s(\d+)_(\d+)_(\w+)", record.id).groups()
        clip = make_clip(int(seed), int(index), motion, tuple(record.size), record.frames)
        empty = to_uint8(render_rink(clip.camera))
        loaded = fsjd.load_clip(data, record)
        frames, joints, K = loaded["frames"], loaded["joints"], loaded["intrinsics"]
        shuffled = joints[np.random.default_rng(k).permutation(len(joints))]
        other = fsjd.load_clip(data, records[(k + 1) % len(records)])["joints"]  # the next clip's motion
        sampling = Sampling(steps=steps, guidance=guidance, seed=k)
        true_video = generator.generate(frames[0], joints, sampling).frames
        shuf_video = generator.generate(frames[0], shuffled, sampling).frames
        other_video = generator.generate(frames[0], other, sampling).frames
        with torch.no_grad():
            x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
            vae_video = decode_latents(generator.pipe.vae, encode_video(generator.pipe.vae, x, sample=False))
            vae_video = ((vae_video[0].permute(1, 2, 3, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        gt, vae, true, shuf, oth = (body_mask(v, empty) for v in (frames, vae_video, true_video, shuf_video, other_video))
        rows.append({
            "clip": record.id,
            "ground_truth_video": joints_on_body(gt, joints, K),
            "vae_round_trip": joints_on_body(vae, joints, K),
            "generated_true_motion": joints_on_body(true, joints, K),
            "generated_true_motion_vs_shuffled_joints": joints_on_body(true, shuffled, K),
            "generated_shuffled_motion_vs_true_joints": joints_on_body(shuf, joints, K),
            "generated_shuffled_motion_vs_shuffled_joints": joints_on_body(shuf, shuffled, K),
            "ground_truth_video_vs_shuffled_joints": joints_on_body(gt, shuffled, K),
            "generated_other_clip_motion_vs_its_joints": joints_on_body(oth, other, K),
            "generated_other_clip_motion_vs_true_joints": joints_on_body(oth, joints, K),
            "generated_true_motion_limbs": joints_on_body(true, joints[:, LIMBS], K),
            "generated_true_motion_limbs_vs_shuffled": joints_on_body(true, shuffled[:, LIMBS], K),
            # Guards the measure: a video that differs from the rink everywhere puts every joint "on body".
            "body_area_ground_truth": float(gt.mean()),
            "body_area_generated_true_motion": float(true.mean()),
        })
    keys = [k for k in rows[0] if k != "clip"] if rows else []
    return {"clips": len(rows), "steps": steps, "guidance": guidance, "threshold": THRESHOLD,
            "mean": {k: round(float(np.mean([r[k] for r in rows])), 3) for k in keys}, "per_clip": rows}


def main() -> None:
    from sportanim.weights import default_weights

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="pipeline weights folder (default: the shipped tiny base)")
    parser.add_argument("--data", type=Path, default=Path("runs/pretrain-tiny/data"),
                        help="the pretraining data folder (its eval split is measured)")
    parser.add_argument("--clips", type=int, default=12, help="eval clips in the joints-on-body study")
    parser.add_argument("--steps", type=int, default=25, help="DPM sampling steps")
    parser.add_argument("--guidance", type=float, default=3.0, help="motion guidance scale")
    args = parser.parse_args()
    weights = args.weights or default_weights()
    started = time.perf_counter()
    result = {
        "weights": str(weights),
        "tokenizer_daily_eval": tokenizer_on_daily(weights, args.data),
        "tokenizer_mpjpe_mm_real_nlf": tokenizer_on_real(weights),
        "joints_on_body": joints_on_body_study(weights, args.data, args.clips, args.steps, args.guidance),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = ROOT / "results" / "tiny_base.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "joints_on_body"}, indent=2))
    print(json.dumps(result["joints_on_body"]["mean"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
