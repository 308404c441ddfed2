"""Dataset builder: speed and accuracy of decoding, shots, pose, jump windows and the builder.

    python benchmarks/data.py [--programmes 12] [--mp-programmes 3] [--mp-sizes 256]
                              [--build-programmes 3] [--build-size 256] [--nlf-model FILE]
                              [--parts all|NAME,...] [--out benchmarks/results/data.json]

``--parts`` runs only the named parts (see ``PARTS``) and updates their keys in ``--out``,
keeping the others.

- Speed (frames/s): decode + crop + resize to 512x512, and the MediaPipe backend, each
  against the way MTVCrafter's extraction script works: decode one frame, convert it, use
  it, decode the next (same frames, same backend and settings), as a ratio.
- Shot cuts on synthetic programmes: precision/recall of cut frames within +-1 frame.
- MediaPipe vs NLF on the three real dance videos: MPJPE root-aligned and absolute, mm.
- Jump windows on synthetic programmes from the exact camera-space joints (the detector's
  upper bound), then from MediaPipe on the rendered programmes, and on the real
  practice-rink double axel (take-off/landing labels shipped with it).
- ``sportanim data build`` end to end (MediaPipe): on the three real dance videos (one
  whole-video window each, from an annotations CSV) its clips' joints against the NLF
  joints of the same clip frames (root-aligned and absolute camera-space MPJPE, and the 2D
  error in the crop's pixels through the stored per-frame camera); on ``sportanim synth
  --programme`` videos with automatic detection, jump-window precision/recall against the
  labels and root-aligned MPJPE against the true joints; the build's throughput.
- NLF backend speed (batched vs one frame at a time) when ``--nlf-model`` is given.

Real data is read from ``<repo>/../shared/data``; parts that need it are skipped without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from sportanim.data.crop import crop_resize
from sportanim.data.jumps import detect_jump_windows, match_windows
from sportanim.data.pose import PoseBackendError, PoseResult
from sportanim.data.shots import detect_cuts, match_cuts, shot_ranges
from sportanim.data.track import track_main_athlete
from sportanim.io.files import write_text
from sportanim.io.video import iter_frames, open_video, write_video
from sportanim.synth.programme import make_programme

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CROP = 512


def _box(info) -> list[float]:
    """A centred square crop box of 3/4 of the shorter side."""
    side = 0.75 * min(info.width, info.height)
    cx, cy = info.width / 2, info.height / 2
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def decode_crop_resize(video: Path, repeats: int = 3) -> dict:
    """Ours (threaded batched decode, one reused converter, area resize) vs one frame at a
    time (no decoder threads, a fresh RGB conversion per frame, PIL crop + resize)."""
    from PIL import Image

    info = open_video(video)
    box = _box(info)

    def ours() -> int:
        n = 0
        for batch in iter_frames(info, batch_size=32):
            n += len(crop_resize(batch.frames, box, (CROP, CROP)))
        return n

    def one_at_a_time() -> int:
        n = 0
        with av.open(str(video)) as container:
            for frame in container.decode(container.streams.video[0]):
                rgb = frame.to_ndarray(format="rgb24")
                Image.fromarray(rgb).crop(tuple(int(round(v)) for v in box)).resize(
                    (CROP, CROP), Image.BILINEAR)
                n += 1
        return n

    out = {"video": str(video.relative_to(SHARED)) if SHARED in video.parents else video.name,
           "size": list(info.size), "frames": info.frames, "crop": CROP}
    out.update(_best_interleaved({"batched": ours, "one_at_a_time": one_at_a_time}, repeats))
    return out


def _best_interleaved(fns: dict, repeats: int) -> dict:
    """Frames/s of each ``fn() -> frames``, best of ``repeats`` rounds that alternate the
    functions (on a shared, loaded machine the rounds see the same load), and the ratio."""
    best = {name: 0.0 for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            n = fn()
            best[name] = max(best[name], n / (time.perf_counter() - start))
    out = {f"{name}_fps": round(value, 1) for name, value in best.items()}
    out["speedup"] = round(best["batched"] / best["one_at_a_time"], 2)
    out["rounds"] = repeats
    return out


def estimate_one_at_a_time(backend, video: Path, frames: int) -> int:
    """Upstream's way: decode a frame, estimate it, next; returns the frames done."""
    n = 0
    with av.open(str(video)) as container:
        for frame in container.decode(container.streams.video[0]):
            if n == frames:
                break
            backend.estimate(frame.to_ndarray(format="rgb24")[None])
            n += 1
    return n


def mediapipe_speed(video: Path, frames: int, repeats: int = 3) -> dict:
    """MediaPipe backend fed by the batched, prefetching decoder vs decode-one-estimate-one."""
    from sportanim.data.pose import MediapipeBackend

    info = open_video(video)
    backend = MediapipeBackend()

    def ours() -> int:
        backend.reset()
        n = 0
        for batch in iter_frames(info, batch_size=16, stop=frames, prefetch=2):
            n += len(backend.estimate(batch.frames))
        return n

    def one_at_a_time() -> int:
        backend.reset()
        return estimate_one_at_a_time(backend, video, frames)

    one_at_a_time()  # warm-up (graph start, XNNPACK delegate)
    out = {"video": video.name, "size": list(info.size), "frames": frames,
           "backend": backend.version, "cpu_count": os.cpu_count()}
    out.update(_best_interleaved({"batched": ours, "one_at_a_time": one_at_a_time}, repeats))
    backend.close()
    return out


def mediapipe_vs_nlf() -> dict:
    """Per dance video: MPJPE (mm) of the MediaPipe backend against the NLF joints."""
    from sportanim.data.pose import MediapipeBackend

    samples = SHARED / "mtvcrafter_samples"
    nlf = np.load(samples / "poses.npz")
    backend = MediapipeBackend()
    out = {}
    for video in sorted((samples / "videos").glob("*.mp4")):
        backend.reset()
        info = open_video(video)
        result = PoseResult.concatenate([backend.estimate(b.frames) for b in iter_frames(info, 32)])
        ref = nlf[video.stem][: len(result)]
        ok = result.found[: len(ref)]
        ours, theirs = result.joints[: len(ref)][ok], ref[ok]
        root = np.linalg.norm((ours - ours[:, :1]) - (theirs - theirs[:, :1]), axis=-1)
        absolute = np.linalg.norm(ours - theirs, axis=-1)
        depth = np.abs(ours[:, 0, 2] - theirs[:, 0, 2])
        out[video.stem] = {"size": list(info.size), "frames": len(ref),
                           "found": round(float(ok.mean()), 4),
                           "mpjpe_root_aligned_mm": round(float(root.mean()), 1),
                           "mpjpe_absolute_mm": round(float(absolute.mean()), 1),
                           "root_depth_error_mm_median": round(float(np.median(depth)), 1)}
    backend.close()
    return out


def shots_on_programmes(programmes: list[dict]) -> dict:
    tp = found = truth = 0
    seconds = frames = 0.0
    for p in programmes:
        start = time.perf_counter()
        cuts = detect_cuts(p["frames"], p["labels"]["fps"]).cuts
        seconds += time.perf_counter() - start
        frames += len(p["frames"])
        s = match_cuts(cuts, p["labels"]["cuts"], tolerance=1)
        tp, found, truth = tp + s["true_positives"], found + s["found"], truth + s["truth"]
    return {"programmes": len(programmes), "size": programmes[0]["labels"]["size"],
            "cuts": truth, "precision": tp / max(found, 1), "recall": tp / max(truth, 1),
            "fps": round(frames / seconds, 1)}


def _score(results: list[dict]) -> dict:
    tp = sum(r["true_positives"] for r in results)
    found = sum(r["found"] for r in results)
    labelled = sum(r["labelled"] for r in results)
    errors = [abs(e) for r in results for e in r["takeoff_error_frames"] + r["landing_error_frames"]]
    return {"labelled": labelled, "found": found, "true_positives": tp,
            "precision": round(tp / max(found, 1), 4), "recall": round(tp / max(labelled, 1), 4),
            "timing_error_frames_mean": round(float(np.mean(errors)), 2) if errors else None,
            "timing_error_frames_max": int(max(errors)) if errors else None}


def jumps_exact(programmes: list[dict]) -> dict:
    results = [match_windows(detect_jump_windows(p["joints"], p["labels"]["fps"],
                                                 cuts=p["labels"]["cuts"]), p["labels"]["jumps"])
               for p in programmes]
    return {"programmes": len(programmes), **_score(results)}


def jumps_mediapipe(count: int, size: int) -> dict:
    """Render programmes at ``size``, detect cuts, run MediaPipe per shot, track, detect."""
    from sportanim.data.pose import MediapipeBackend

    backend = MediapipeBackend()
    results, mpjpe, seconds, frames = [], [], 0.0, 0
    for seed in range(count):
        p = make_programme(seed, seed, jumps=5, size=(size, size), fps=30.0)
        cuts = detect_cuts(p["frames"], 30.0).cuts
        start = time.perf_counter()
        parts = []
        for a, b in shot_ranges(cuts, len(p["frames"])):
            backend.reset()
            parts.append(backend.estimate(p["frames"][a:b]))
        seconds += time.perf_counter() - start
        frames += len(p["frames"])
        track = track_main_athlete(PoseResult.concatenate(parts), cuts=cuts)
        windows = detect_jump_windows(track.joints, 30.0, cuts=cuts, segments=track.segment)
        results.append(match_windows(windows, p["labels"]["jumps"]))
        ours, truth = track.joints[track.kept], p["joints"][track.kept]
        mpjpe.append(float(np.linalg.norm((ours - ours[:, :1]) - (truth - truth[:, :1]), axis=-1).mean()))
    backend.close()
    return {"programmes": count, "size": size, **_score(results),
            "mpjpe_root_aligned_mm_vs_exact": round(float(np.mean(mpjpe)), 1),
            "mediapipe_fps": round(frames / seconds, 1)}


def jumps_real_skating() -> dict:
    from sportanim.data.pose import MediapipeBackend

    folder = SHARED / "skating_videos"
    labels = json.loads((folder / "labels.json").read_text())
    video = folder / labels[0]["filename"]
    info = open_video(video)
    result = PoseResult.concatenate([MediapipeBackend().estimate(b.frames)
                                     for b in iter_frames(info, 32)])
    track = track_main_athlete(result)
    windows = detect_jump_windows(track.joints, info.fps, segments=track.segment)
    score = match_windows(windows, labels)
    return {"video": video.name, "labels": labels, "person_found": round(float(result.found.mean()), 3),
            "windows": [w.to_dict() for w in windows], **{k: score[k] for k in (
                "precision", "recall", "takeoff_error_frames", "landing_error_frames")}}


def _clip_errors(out: Path, record, reference: np.ndarray) -> dict:
    """MPJPE (mm) of a built clip's joints against ``reference`` joints of the same source
    frames, and the 2D error in the crop's pixels through the clip's stored cameras."""
    from sportanim.skeleton import project

    with np.load(out / record.joints) as z:
        ours, K, frame = z["joints"].astype(np.float64), z["intrinsics"], z["source_frame"]
        found = z["found"].astype(bool)
    theirs = reference[frame].astype(np.float64)
    ours, theirs, K = ours[found], theirs[found], K[found]
    root = np.linalg.norm((ours - ours[:, :1]) - (theirs - theirs[:, :1]), axis=-1)
    px = np.linalg.norm(project(ours, K) - project(theirs, K), axis=-1)
    return {"frames": int(found.sum()), "source_frames": [int(frame[0]), int(frame[-1])],
            "mpjpe_root_aligned_mm": round(float(root.mean()), 1),
            "mpjpe_absolute_mm": round(float(np.linalg.norm(ours - theirs, axis=-1).mean()), 1),
            "error_2d_crop_px": round(float(px.mean()), 2), "crop_size": list(record.size),
            "quality": {k: record.quality[k] for k in ("passed", "reasons", "missing",
                                                       "outside", "jitter_mm", "bone_cv")}}


def build_real_dance(size: int = 512, frames: int = 49) -> dict:
    """``sportanim data build`` (MediaPipe) on the dance videos, one whole-video window each
    (dance has no jumps), against the NLF joints of the same frames."""
    from sportanim.data.build import BuildConfig, build_dataset

    samples = SHARED / "mtvcrafter_samples"
    nlf = np.load(samples / "poses.npz")
    videos = sorted((samples / "videos").glob("*.mp4"))
    tmp = Path(tempfile.mkdtemp())
    csv = tmp / "whole.csv"
    csv.write_text("".join(f"{v.name},0,{open_video(v).duration_s:.3f},\n" for v in videos))
    start = time.perf_counter()
    report = build_dataset(videos, BuildConfig(out=tmp / "out", annotations=csv, size=size,
                                               frames=frames, show_progress=False))
    seconds = time.perf_counter() - start
    out = {"size": size, "frames": frames, "build_seconds": round(seconds, 1),
           "skipped": [s.__dict__ for s in report.skipped + report.notes]}
    for record in report.clips:
        stem = Path(record.source["name"]).stem
        out[stem] = _clip_errors(report.out, record, nlf[stem])
    return out


def build_synthetic_programmes(count: int, size: int, jumps: int = 5) -> dict:
    """``sportanim synth --programme`` videos, then ``sportanim data build`` with automatic
    jump detection (MediaPipe): window precision/recall and MPJPE against the truth."""
    from sportanim.data.build import BuildConfig, build_dataset
    from sportanim.data.jumps import JumpWindow
    from sportanim.synth.programme import ProgrammeConfig, write_programmes

    tmp = Path(tempfile.mkdtemp())
    labels = write_programmes(ProgrammeConfig(out=tmp / "prog", programmes=count, jumps=jumps,
                                              size=size, seed=0), show_progress=False)
    start = time.perf_counter()
    report = build_dataset([tmp / "prog"], BuildConfig(out=tmp / "out", size=min(512, size),
                                                       show_progress=False))
    seconds = time.perf_counter() - start
    results, errors, failed = [], [], 0
    for lab in labels:
        records = [r for r in report.clips if r.source["name"] == lab["video"]]
        # each clip's source span is its window; take-off/landing are the detector's
        windows = [JumpWindow(**{**r.source["detection"], "start": r.source["frame_range"][0],
                                 "end": r.source["frame_range"][1]}) for r in records]
        results.append(match_windows(windows, lab["jumps"]))
        with np.load(tmp / "prog" / lab["joints"]) as z:
            truth = z["joints"]
        errors += [_clip_errors(report.out, r, truth) for r in records]
        failed += sum(not r.quality["passed"] for r in records)
    total = sum(lab["frames"] for lab in labels)
    weights = np.array([e["frames"] for e in errors], dtype=np.float64)
    mean = lambda key: round(float(np.average([e[key] for e in errors], weights=weights)), 1)  # noqa: E731
    return {"programmes": count, "size": size, "clip_size": min(512, size), **_score(results),
            "clips": len(report.clips), "clips_failing_gates": failed,
            "mpjpe_root_aligned_mm_vs_truth": mean("mpjpe_root_aligned_mm"),
            "mpjpe_absolute_mm_vs_truth": mean("mpjpe_absolute_mm"),
            "error_2d_crop_px": mean("error_2d_crop_px"),
            "jitter_mm_median": float(np.median([r.quality["jitter_mm"] for r in report.clips])),
            "bone_cv_median": float(np.median([r.quality["bone_cv"] for r in report.clips])),
            "build_seconds": round(seconds, 1), "build_video_frames_per_s": round(total / seconds, 1),
            "skipped": [s.__dict__ for s in report.skipped + report.notes]}


def nlf_speed(model: Path, video: Path, frames: int) -> dict:
    """NLF backend on batches from the prefetching decoder vs decode-one-estimate-one."""
    from sportanim.data.pose import NLFBackend

    backend = NLFBackend(model)
    info = open_video(video)

    def ours() -> int:
        return sum(len(backend.estimate(b.frames))
                   for b in iter_frames(info, batch_size=backend.batch_size, stop=frames, prefetch=2))

    def one_at_a_time() -> int:
        return estimate_one_at_a_time(backend, video, frames)

    ours()  # warm-up
    out = {"video": video.name, "frames": frames, "backend": backend.version,
           "device": str(backend.device)}
    out.update(_best_interleaved({"batched": ours, "one_at_a_time": one_at_a_time}, 2))
    return out


PARTS = ("shots_jumps_exact", "decode", "mediapipe", "mediapipe_accuracy", "build_real",
         "build_synthetic", "nlf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programmes", type=int, default=12)
    parser.add_argument("--mp-programmes", type=int, default=3)
    parser.add_argument("--mp-sizes", type=int, nargs="*", default=[256])
    parser.add_argument("--mp-frames", type=int, default=150)
    parser.add_argument("--build-programmes", type=int, default=3)
    parser.add_argument("--build-size", type=int, default=256)
    parser.add_argument("--nlf-model", type=Path, default=None)
    parser.add_argument("--parts", default="all", help=f"all or a comma list of {PARTS}")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data.json")
    args = parser.parse_args()
    parts = set(PARTS) if args.parts == "all" else set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}; choose from {PARTS}")

    report: dict = json.loads(args.out.read_text()) if args.parts != "all" and args.out.is_file() else {}
    report["machine"] = {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                         "av": av.__version__, "numpy": np.__version__,
                         # other jobs share this machine: speeds are only comparable
                         # within one part (its rounds alternate the two ways)
                         "load_average_1min_at_start": round(os.getloadavg()[0], 2)}

    def show(*keys: str) -> None:
        print(json.dumps({k: report[k] for k in keys if k in report}, indent=1), flush=True)

    if "shots_jumps_exact" in parts:
        programmes = [make_programme(s, s, jumps=5, size=(64, 64), fps=30.0)
                      for s in range(args.programmes)]
        report["shots_synthetic"] = shots_on_programmes(programmes)
        report["jumps_exact_joints"] = jumps_exact(programmes)
        show("shots_synthetic", "jumps_exact_joints")

    dance = SHARED / "mtvcrafter_samples" / "videos" / "dance_17.mp4"
    if dance.is_file():
        video = dance
    else:  # no shared data: a synthetic 512 programme as the test video
        tmp = Path(tempfile.mkdtemp())
        video = tmp / "programme.mp4"
        write_video(video, make_programme(0, 0, 2, (512, 512), 30.0)["frames"], 30.0)
    if "decode" in parts:
        report["decode_crop_resize"] = decode_crop_resize(video)
        show("decode_crop_resize")
    if "nlf" in parts:
        if args.nlf_model is None:
            report["nlf_speed"] = "not measured: no NLF TorchScript file here (pass --nlf-model)"
        else:
            report["nlf_speed"] = nlf_speed(args.nlf_model, video, args.mp_frames)
        show("nlf_speed")
    try:
        import mediapipe
        report["mediapipe_version"] = mediapipe.__version__
    except ImportError:
        report["mediapipe"] = "not installed: pip install mediapipe==0.10.14"
        parts -= {"mediapipe", "mediapipe_accuracy", "build_real", "build_synthetic"}
    try:
        if "mediapipe" in parts:
            report["mediapipe_speed"] = mediapipe_speed(video, args.mp_frames)
            show("mediapipe_speed")
        if "mediapipe_accuracy" in parts:
            for size in args.mp_sizes:
                report[f"jumps_mediapipe_{size}px"] = jumps_mediapipe(args.mp_programmes, size)
                show(f"jumps_mediapipe_{size}px")
            if SHARED.is_dir():
                report["mediapipe_vs_nlf_dance"] = mediapipe_vs_nlf()
                report["jumps_real_double_axel"] = jumps_real_skating()
                show("mediapipe_vs_nlf_dance", "jumps_real_double_axel")
        if "build_real" in parts and SHARED.is_dir():
            report["build_dance_mediapipe_vs_nlf"] = build_real_dance()
            show("build_dance_mediapipe_vs_nlf")
        if "build_synthetic" in parts:
            key = f"build_programmes_mediapipe_{args.build_size}px"
            report[key] = build_synthetic_programmes(args.build_programmes, args.build_size)
            show(key)
    except PoseBackendError as error:
        report["mediapipe"] = str(error)
    write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
