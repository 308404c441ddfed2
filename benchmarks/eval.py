"""Speed of the evaluation metrics: videos per second for each metric on this CPU.

    python benchmarks/eval.py [--videos 1] [--sizes 64,512] [--out benchmarks/results/eval.json]

For each frame size, ``--videos`` synthetic 49-frame clips (rendered by the synthetic world,
H.264 round trip) are scored per metric: for a distribution metric (FID, FVD, FID-VID) one
"video" is the feature extraction of one video (a score needs it for every real and every
generated video); for a paired metric (PSNR, SSIM, LPIPS) one real/generated pair; for
decoding, one H.264 file. Extractors are the seeded random ones (same architecture and
input sizes as the published weights, so the same cost). The in-domain extractors shipped
for the synthetic world (``sportanim/weights/extractors``: FVD / FID-VID through the clip
network, FID through the frame network, each resizing to its own input) and the motion-
fidelity and appearance measures (the shipped keypoint detector on every frame; appearance
also detects the reference) are timed the same way. The machine is shared: the JSON records
the load average seen at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sportanim.eval import extractors as X
from sportanim.eval import video as V
from sportanim.io.video import read_video, write_video
from sportanim.eval.appearance import appearance_distance
from sportanim.eval.keypoints import load_keypoint_detector
from sportanim.eval.motion_fidelity import motion_scores
from sportanim.synth.world import make_clip


def clip_pair(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, Path]:
    """Two different rendered clips at ``size`` (after an H.264 round trip) and the file."""
    tmp = Path(tempfile.mkdtemp())
    videos = []
    for k in range(2):
        path = tmp / f"{k}.mp4"
        write_video(path, make_clip(seed, k, "lutz", (size, size), 49).frames, 30.0)
        videos.append(read_video(path)[0])
    return videos[0], videos[1], tmp / "0.mp4"


def rate(fn, inputs: list) -> float:
    """Videos per second of ``fn`` over ``inputs``."""
    start = time.perf_counter()
    for item in inputs:
        fn(*item)
    return len(inputs) / (time.perf_counter() - start)


def bench_size(size: int, videos: int) -> dict:
    pairs = [clip_pair(size, seed) for seed in range(videos)]
    nets = {key: X.BUILDERS[key](seed=0) for key in ("inception", "i3d", "r3d50", "alexnet")}
    domain = {key: X.build_in_domain(key) for key in ("i3d", "r3d50", "inception")}
    detector = load_keypoint_detector()
    driving = make_clip(0, 0, "lutz", (size, size), 49)  # the first pair video's own clip
    motion = (driving.joints, driving.camera.intrinsics)
    jobs = {
        "decode_h264": (lambda path: read_video(path), [(p[2],) for p in pairs]),
        "psnr": (V.psnr_frames, [p[:2] for p in pairs]),
        "ssim": (V.ssim_frames, [p[:2] for p in pairs]),
        "lpips": (lambda a, b: V.lpips_frames(nets["alexnet"], a, b), [p[:2] for p in pairs]),
        "fid_inception_all_frames": (lambda v: X.inception_features(nets["inception"], v),
                                     [(p[0],) for p in pairs]),
        "fvd_i3d": (lambda v: X.i3d_features(nets["i3d"], v), [(p[0],) for p in pairs]),
        "fid_vid_r3d50": (lambda v: X.r3d_features(nets["r3d50"], v), [(p[0],) for p in pairs]),
        **{f"{metric}_in_domain_{domain[key].name.replace(' ', '_')}": (
            lambda v, key=key: X.features(key, domain[key], v), [(p[0],) for p in pairs])
           for metric, key in (("fvd", "i3d"), ("fid_vid", "r3d50"), ("fid", "inception"))},
        "motion_fidelity_keypoints": (lambda v: motion_scores(detector.detect(v), *motion),
                                      [(p[0],) for p in pairs]),
        "appearance_lab": (lambda a, b: appearance_distance(detector, b[0], a), [p[:2] for p in pairs]),
    }
    return {name: rate(fn, inputs) for name, (fn, inputs) in jobs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1)
    parser.add_argument("--sizes", default="64,512")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval.json")
    args = parser.parse_args()
    load_start = os.getloadavg()
    result = {"machine": {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "load_average_1_5_15_min_at_start": list(load_start)},
              "frames_per_video": 49, "videos_per_measurement": args.videos,
              "unit": "videos per second (one video's features, or one real/generated pair)"}
    for size in (int(s) for s in args.sizes.split(",")):
        result[f"{size}x{size}"] = bench_size(size, args.videos)
        print(size, json.dumps(result[f"{size}x{size}"], indent=1), flush=True)
    result["machine"]["load_average_1_5_15_min_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
