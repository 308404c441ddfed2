"""Dataset builder side by side: videos overlapped on one machine, and on a local Ray.

    python benchmarks/data_overlap.py [--programmes 3] [--size 256] [--jumps 2]
                                      [--rounds 2] [--workers 2] [--no-real] [--no-ray]
                                      [--out benchmarks/results/data_overlap.json]

Inputs: ``sportanim synth --programme`` videos (``--programmes`` of ``--size`` px, 30 fps,
``--jumps`` jumps each) plus, when ``../shared/data`` is present, the real practice-rink
video ``skating_videos/towards_double_axel.mp4`` (1280x720; left out without it or with
``--no-real``). Every build is a fresh ``sportanim data build`` (MediaPipe, automatic jump
detection, clips of ``--size`` px, nothing cached) of all inputs:

- ``one_at_a_time``: ``--workers 1``, the videos one after another (each pose pass
  decodes its next batches on a thread while MediaPipe estimates the current one);
- ``overlapped``: ``--workers N`` threads, each with its own MediaPipe graph, build videos
  side by side, so one decodes, cuts and encodes while another estimates;
- ``ray_local``: ``--ray local`` (a new Ray instance on this machine's cores, its start
  included in the time), once, after the rounds.

The two local ways alternate for ``--rounds`` rounds (other jobs may share this machine:
the load average and idle cores are recorded around every build), and the speed-up is
the ratio of their summed times and per round; ``cores_used`` (this process's CPU time over
the wall time) shows how much of the machine each got. Every build's folder (including the pose
caches and records under ``.build``) must be byte-identical to the first one's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sportanim.io.files import write_text

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL = SHARED / "skating_videos" / "towards_double_axel.mp4"


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _load() -> dict:
    from sportanim.threads import idle_cores

    return {"load_average_1min": round(os.getloadavg()[0], 2),
            "idle_cores": round(idle_cores(0.5), 2)}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def build_once(inputs: list[Path], out: Path, size: int, workers: int = 1,
               ray: str | None = None) -> dict:
    from sportanim.data.build import BuildConfig, build_dataset

    shutil.rmtree(out, ignore_errors=True)
    before = _load()
    start, cpu = time.perf_counter(), _cpu_s()
    report = build_dataset([str(p) for p in inputs],
                           BuildConfig(out=out, size=size, show_progress=False,
                                       workers=workers, ray=ray))
    seconds, cpu = time.perf_counter() - start, _cpu_s() - cpu
    result = {"seconds": round(seconds, 2), "clips": len(report.clips),
              "skipped": len(report.skipped), "before": before, "after": _load()}
    if ray is None:  # Ray's workers are other processes
        result["cpu_seconds"] = round(cpu, 1)
        result["cores_used"] = round(cpu / seconds, 2)
    return {**result, "digest": _digest(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programmes", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--jumps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-real", action="store_true", help="leave the shared real video out")
    parser.add_argument("--no-ray", action="store_true", help="skip the local Ray build")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data_overlap.json")
    args = parser.parse_args()

    import av
    import numpy as np

    from sportanim.io.video import open_video
    from sportanim.synth.programme import ProgrammeConfig, write_programmes

    try:
        import mediapipe
    except ImportError:
        print("skipped: MediaPipe is not installed (pip install sportanim[pose])", file=sys.stderr)
        return
    tmp = Path(tempfile.mkdtemp(prefix="sportanim-overlap-"))
    write_programmes(ProgrammeConfig(out=tmp / "videos", programmes=args.programmes,
                                     jumps=args.jumps, size=args.size, seed=0), show_progress=False)
    inputs = sorted((tmp / "videos").glob("*.mp4"))
    if REAL.is_file() and not args.no_real:
        inputs.append(REAL)
    videos = [{"name": p.name, "frames": open_video(p).frames, "size": list(open_video(p).size)}
              for p in inputs]
    report = {
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "av": av.__version__, "numpy": np.__version__,
                    "mediapipe": mediapipe.__version__},
        "inputs": videos, "clip_size": args.size, "workers": args.workers,
        "note": "other jobs may share this machine: see the load around each build",
    }
    print(json.dumps(report, indent=1), flush=True)

    runs: dict[str, list[dict]] = {"one_at_a_time": [], "overlapped": []}
    reference = None
    identical = True
    for r in range(args.rounds):
        order = [("one_at_a_time", 1), ("overlapped", args.workers)]
        for name, workers in order if r % 2 == 0 else order[::-1]:
            result = build_once(inputs, tmp / f"out-{name}", args.size, workers=workers)
            digest = result.pop("digest")
            reference = reference or digest
            result["identical_to_first"] = digest == reference
            identical &= result["identical_to_first"]
            runs[name].append(result)
            print(f"round {r} {name:14s} {result['seconds']:7.1f} s  {result}", flush=True)
    one = sum(x["seconds"] for x in runs["one_at_a_time"])
    over = sum(x["seconds"] for x in runs["overlapped"])
    report["one_at_a_time"] = runs["one_at_a_time"]
    report["overlapped"] = runs["overlapped"]
    report["speedup_overlapped_vs_one_at_a_time"] = round(one / over, 2)
    report["speedup_per_round"] = [round(a["seconds"] / b["seconds"], 2) for a, b
                                   in zip(runs["one_at_a_time"], runs["overlapped"])]
    frames = sum(v["frames"] for v in videos)
    report["video_frames_per_s"] = {"one_at_a_time": round(frames * args.rounds / one, 1),
                                    "overlapped": round(frames * args.rounds / over, 1)}

    if args.no_ray:
        report["ray_local"] = "skipped (--no-ray)"
    else:
        try:
            import ray  # noqa: F401
        except ImportError:
            report["ray_local"] = "skipped: Ray is not installed (pip install sportanim[cluster])"
        else:
            result = build_once(inputs, tmp / "out-ray", args.size, ray="local")
            digest = result.pop("digest")
            result["identical_to_first"] = digest == reference
            identical &= result["identical_to_first"]
            result["speedup_vs_one_at_a_time_mean"] = round(one / args.rounds / result["seconds"], 2)
            report["ray_local"] = result
            print(f"ray local {result['seconds']:7.1f} s  {result}", flush=True)
    report["byte_identical"] = identical
    shutil.rmtree(tmp, ignore_errors=True)
    summary = {k: report[k] for k in ("speedup_overlapped_vs_one_at_a_time", "speedup_per_round",
                                      "video_frames_per_s", "byte_identical")}
    print(json.dumps(summary, indent=1), flush=True)
    write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
