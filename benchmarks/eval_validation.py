"""Do FVD / FID-VID / FID grow with video corruption? The check of Unterthiner et al. (FVD).

    python benchmarks/eval_validation.py [--extractors in-domain,random] [--clips 144]
        [--random-clips 16] [--corruptions blur,noise,...] [--out benchmarks/results/eval_validation.json]

Held-out synthetic clips (world seed 2000: neither the extractors' training world 1000 nor
their held-out world 1001, nor an experiment's) are rendered at 64 px with the H.264 round
trip and split into two halves with the same motions. Half A stays clean (the reference);
half B is corrupted (``sportanim.eval.corruptions``: blur, noise, temporal shuffle inside
16-frame windows, frozen frames, colour shift, salt-and-pepper) at increasing strengths,
and each distance is taken between A and corrupted B, with the protocols ``evaluate`` uses.
Strength 0 is B clean: the real-vs-real floor, which every corruption should clear.
Reported per extractor family, corruption and metric: the values, the Spearman coefficient
between strength and distance (over all levels, 0 included) and the weakest corruption's
value over the floor. A family run replaces only its own entry in ``--out``; the PNG of the
curves (distance / floor, log scale) is drawn from the whole file. Subsets of corruptions may
run side by side (``--corruptions``, each with its own ``--out``) and be joined with
``--merge A.json B.json ...``.

Families: ``in-domain`` (sportanim's extractors, all frames for FID) and ``random`` (the
seeded random networks of the published architectures, at their published input sizes;
``--random-clips`` clips and FID on ``--random-fid-frames`` frames, as the tiny experiment
does, since they cost seconds per clip on a CPU). A per-frame FID cannot see temporal
shuffling (the same frames, reordered): its shuffle row is expected flat.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from sportanim.eval import corruptions as C
from sportanim.eval import extractors as X
from sportanim.io.files import write_json
from sportanim.eval.frechet import FewSamplesWarning, frechet_distance_features
from sportanim.fsjd import read_manifest
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.world import DOMAINS, make_clip
from sportanim.io.video import read_video

WORLD = 2000
METRICS = {"fvd": "i3d", "fid_vid": "r3d50", "fid": "inception"}
RESULTS = Path(__file__).parent / "results"


def render(clips: int, size: int = 64) -> list[np.ndarray]:
    """``clips`` held-out clips (decoded after the H.264 round trip)."""
    with tempfile.TemporaryDirectory(prefix="sportanim-validation-") as tmp:
        synthesize(SynthConfig(out=Path(tmp), clips=clips, size=size, frames=49, seed=WORLD,
                               eval_fraction=0.0, workers=1, overwrite=True), show_progress=False)
        return [read_video(Path(tmp) / r.video)[0] for r in read_manifest(Path(tmp))]


def features(nets: dict, videos: list[np.ndarray], fid_frames: int | None) -> dict[str, np.ndarray]:
    return {m: np.concatenate([np.atleast_2d(X.features(METRICS[m], nets[m], v, fid_frames))
                               for v in videos]) for m in nets}


def distances(reference: dict, other: dict) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)  # same sample counts at every level
        return {m: frechet_distance_features(reference[m], other[m]) for m in reference}


def run_family(family: str, videos: list[np.ndarray], fid_frames: int | None, save,
               corruptions: tuple[str, ...] = tuple(C.LEVELS)) -> dict:
    """The family's floor and corruption curves; ``save(entry)`` after each corruption, so a
    long run that is stopped keeps what it measured (``complete`` says whether all ran)."""
    nets = {m: X.select(key, None, 0, X.IN_DOMAIN if family == "in-domain" else X.RANDOM)[0]
            for m, key in METRICS.items()}
    half = len(videos) // 2
    reference_videos, test_videos = videos[:half], videos[half:2 * half]
    start = time.perf_counter()
    reference = features(nets, reference_videos, fid_frames)
    floor = distances(reference, features(nets, test_videos, fid_frames))
    out = {"extractors": {m: n.provenance() | {"protocol": n.protocol or "published protocol"}
                          for m, n in nets.items()},
           "clips_per_half": half, "fid_frames": fid_frames,
           "samples_per_half": {m: len(v) for m, v in reference.items()},
           "feature_dims": {m: int(v.shape[1]) for m, v in reference.items()},
           "real_vs_real": floor, "corruptions": {}, "complete": False}
    for c, (name, levels) in enumerate(C.LEVELS.items()):
        if name not in corruptions:
            continue
        values = {m: [floor[m]] for m in METRICS}
        for k, level in enumerate(levels[1:]):
            corrupted = [C.corrupt(v, name, level, np.random.default_rng([c, k, i]))
                         for i, v in enumerate(test_videos)]
            for m, d in distances(reference, features(nets, corrupted, fid_frames)).items():
                values[m].append(d)
        out["corruptions"][name] = {"levels": list(levels), **{
            m: {"values": values[m], "spearman": float(spearmanr(levels, values[m]).statistic),
                "weakest_over_floor": values[m][1] / max(floor[m], 1e-12)} for m in METRICS}}
        print(f"{family:9s} {name:11s} " + "  ".join(
            f"{m} rho={out['corruptions'][name][m]['spearman']:+.2f} "
            f"x{out['corruptions'][name][m]['weakest_over_floor']:.1f}" for m in METRICS), flush=True)
        out["seconds"] = time.perf_counter() - start
        save(out)
    out["complete"] = True
    save(out)
    return out


def speed(sizes: tuple[int, ...], repeats: int = 3) -> dict:
    """Clips per second of each in-domain feature extraction (one 49-frame clip)."""
    nets = {m: X.select(key, None, 0, X.IN_DOMAIN)[0] for m, key in METRICS.items()}
    out = {}
    for size in sizes:
        video = make_clip(WORLD, 0, DOMAINS["jump"][0], (size, size), 49).frames
        for m, net in nets.items():
            X.features(METRICS[m], net, video)  # warm-up
            start = time.perf_counter()
            for _ in range(repeats):
                X.features(METRICS[m], net, video)
            out[f"{m}_{size}px"] = repeats / (time.perf_counter() - start)
    return out


def merge(runs: list[dict]) -> dict:
    """One result from runs of corruption subsets: their floors must agree (same clips,
    same networks); corruptions in ``LEVELS`` order; a family is complete when all are in."""
    out = {k: v for k, v in runs[0].items() if k != "families"} | {"families": {}}
    for run in runs:
        out.update({k: v for k, v in run.items() if k not in ("families", "in_domain_clips_per_second")})
        if "in_domain_clips_per_second" in run:
            out["in_domain_clips_per_second"] = run["in_domain_clips_per_second"]
        for family, entry in run["families"].items():
            have = out["families"].setdefault(family, {**entry, "corruptions": {}, "seconds": 0.0})
            if have["real_vs_real"] != entry["real_vs_real"]:
                raise ValueError(f"{family}: runs disagree on the real-vs-real floor; not the same clips")
            have["corruptions"].update(entry["corruptions"])
            have["seconds"] += entry["seconds"]
    for entry in out["families"].values():
        entry["corruptions"] = {c: entry["corruptions"][c] for c in C.LEVELS if c in entry["corruptions"]}
        entry["complete"] = len(entry["corruptions"]) == len(C.LEVELS)
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = [f for f in ("in-domain", "random") if f in results["families"]]
    fig, axes = plt.subplots(len(families), len(C.LEVELS), figsize=(3.2 * len(C.LEVELS), 3 * len(families)),
                             squeeze=False)
    for row, family in zip(axes, families):
        data = results["families"][family]
        for ax, (name, entry) in zip(row, data["corruptions"].items()):
            for m in METRICS:
                ratio = np.array(entry[m]["values"]) / max(data["real_vs_real"][m], 1e-12)
                ax.plot(entry["levels"], ratio, marker="o", label=f"{m} (rho {entry[m]['spearman']:.2f})")
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
            ax.set_yscale("log")
            ax.set_title(f"{family}: {name}", fontsize=9)
            ax.set_xlabel("strength", fontsize=8)
            ax.legend(fontsize=6)
        row[0].set_ylabel("distance / real-vs-real floor")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--extractors", default="in-domain,random",
                        help="families to run, comma-separated: in-domain, random")
    parser.add_argument("--clips", type=int, default=144, help="held-out clips (in-domain), both halves")
    parser.add_argument("--random-clips", type=int, default=16, help="held-out clips for the random family")
    parser.add_argument("--random-fid-frames", type=int, default=8, help="FID frames per clip (random family)")
    parser.add_argument("--corruptions", default=",".join(C.LEVELS),
                        help="corruptions to run, comma-separated (a subset runs faster)")
    parser.add_argument("--speed-sizes", default="64,512", help="frame sizes for the speed measurement")
    parser.add_argument("--out", type=Path, default=RESULTS / "eval_validation.json")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="only merge these runs' files (e.g. corruption subsets run side by "
                             "side) into --out and redraw the PNG")
    args = parser.parse_args()
    if args.merge:
        results = merge([json.loads(p.read_text()) for p in args.merge])
        write_json(args.out, results)
        plot(results, args.out.with_suffix(".png"))
        print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
        return
    families = [f.strip() for f in args.extractors.split(",") if f.strip()]
    unknown = set(families) - {"in-domain", "random"}
    if unknown or not families:
        parser.error(f"--extractors takes in-domain and/or random, got {args.extractors!r}")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"families": {}}
    results.update(world_seed=WORLD, levels={k: list(v) for k, v in C.LEVELS.items()},
                   torch_threads=torch.get_num_threads(), cores=os.cpu_count())
    for family in families:
        clips = args.clips if family == "in-domain" else args.random_clips
        fid_frames = None if family == "in-domain" else args.random_fid_frames
        load = os.getloadavg()

        def save(entry, family=family):
            results["families"][family] = {**entry, "load_average_1_5_15_min_at_start": list(load)}
            write_json(args.out, results)

        entry = run_family(family, render(clips), fid_frames, save,
                           tuple(c.strip() for c in args.corruptions.split(",")))
        for m in METRICS:
            print(f"{family} real-vs-real {m}: {entry['real_vs_real'][m]:.4g}")
    if "in-domain" in families and args.speed_sizes:
        results["in_domain_clips_per_second"] = speed(tuple(int(s) for s in args.speed_sizes.split(",")))
        print("in-domain clips/s:", {k: round(v, 2) for k, v in results["in_domain_clips_per_second"].items()})
    write_json(args.out, results)
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
