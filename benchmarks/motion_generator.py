"""The jump generator, judged as MDM judges action-to-motion, plus the physics of a jump.

    python benchmarks/motion_generator.py --synth DIR --real DIR [--elements 3Lz,2A,4T,3F,3Lo,3S]
        [--count 20] [--guidance 1] [--direction ccw] [--seed 0]

``--synth``: synthetic jump clips (the reference motions); ``--real``: FS-Jump3D imported
(``sportanim data import-fsjump3d``; its air times give the real range). Per element:

- classifier (the shipped jump classifier, trained on synthetic + real jumps): accuracy of
  the sampled motions' type, revolutions and element (MDM's recognition accuracy);
- FID of the classifier's pooled features, samples against the reference clips of the same
  element and direction; diversity (mean feature distance of random pairs over all samples)
  and multimodality (the same within an element), as in MDM (pairs: up to 200 / 20);
- rule-based revolutions (hip-axis turns over the detected flight) within 0.25 of the
  request: share of samples (the target is >= 90%), flights found;
- flight physics in the world frame: g fitted to the pelvis (share within 8-11.5 m/s^2)
  and air time in the real range for the requested revolutions
  (``sportanim.motion.rules.real_air_time_range``: published elite flights; the FS-Jump3D
  flights are checked against it too), as sampled and after the sampler's physics guard
  (the share of samples it flew again);
- the ceiling the frozen tokenizer sets: the checks above on reference clips before and
  after its encode -> decode round trip, without the generator;
- samples per second with 2 CPU threads (the ``count`` samples of one call, loading
  excluded).

Writes ``benchmarks/results/motion_generator.json`` and a contact sheet of sampled jumps
(skeletons from the output camera) to ``--sheet``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from sportanim.eval.frechet import frechet_distance_features  # noqa: E402
from sportanim.motion import frames  # noqa: E402
from sportanim.motion.classify import JumpClassifier, predict  # noqa: E402
from sportanim.motion.clips import load_jump_clips  # noqa: E402
from sportanim.motion.elements import Element, parse_code  # noqa: E402
from sportanim.motion.rules import (G_RANGE, air_time_is_real, gravity_is_real, read_flight,  # noqa: E402
                                   real_air_time_range)
from sportanim.motion.sampling import FPS, load_generator, sample_jump  # noqa: E402
from sportanim.synth.jumps import AIR_TIME_RANGE  # noqa: E402



def pair_distance(features: np.ndarray, pairs: int, rng: np.random.Generator) -> float | None:
    if len(features) < 2:
        return None
    a = rng.integers(0, len(features), pairs)
    b = (a + rng.integers(1, len(features), pairs)) % len(features)
    return float(np.linalg.norm(features[a] - features[b], axis=1).mean())


def score_element(motions, reference, classifier, rng) -> dict:
    element = motions[0].element
    readings = predict(classifier, [frames.canonical_world(m.world) for m in motions])
    flights = [read_flight(m.world, FPS) for m in motions]
    sampled = [m.sampled_flight or f for m, f in zip(motions, flights)]  # before the physics guard
    found = [f for f in flights if f is not None]
    sign = 1.0 if motions[0].direction == "ccw" else -1.0
    feats = np.stack([r.embed for r in readings])
    ref = [c for c in reference if Element(c.type, c.revolutions) == element and c.direction == motions[0].direction]
    out = {
        "samples": len(motions),
        "type_accuracy": float(np.mean([r.element.type == element.type for r in readings])),
        "revolutions_accuracy": float(np.mean([r.element.revolutions == element.revolutions for r in readings])),
        "element_accuracy": float(np.mean([r.element == element for r in readings])),
        "direction_accuracy": float(np.mean([r.direction == motions[0].direction for r in readings])),
        "flight_found_share": len(found) / len(motions),
        "rule_revolutions": [round(sign * f.revolutions, 3) if f else None for f in flights],
        "rule_revolutions_within_0.25_share": float(np.mean(
            [f is not None and abs(sign * f.revolutions - element.revolutions) <= 0.25 for f in flights])),
        "g_pelvis": [round(f.g_pelvis, 2) for f in found],
        "g_in_range_share": float(np.mean([f is not None and gravity_is_real(f.g_pelvis) for f in flights])),
        "air_time_s": [round(f.air_time_s, 3) for f in found],
        "air_time_real_range_s": [round(x, 3) for x in real_air_time_range(element.revolutions)],
        "air_time_real_share": float(np.mean(
            [f is not None and air_time_is_real(f.air_time_s, element.revolutions, FPS) for f in flights])),
        "guarded_share": float(np.mean([m.sampled_flight is not None for m in motions])),
        "air_time_real_share_as_sampled": float(np.mean(
            [f is not None and air_time_is_real(f.air_time_s, element.revolutions, FPS) for f in sampled])),
        "g_in_range_share_as_sampled": float(np.mean(
            [f is not None and gravity_is_real(f.g_pelvis) for f in sampled])),
        "multimodality": pair_distance(feats, 20, rng),
        "reference_clips": len(ref),
    }
    if len(ref) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["fid"] = frechet_distance_features(np.stack([r.embed for r in predict(classifier, [c.world for c in ref])]),
                                                   feats)
    return out, feats


def tokenizer_ceiling(reference, tok, classifier, count: int, rng) -> dict:
    """The same rule and physics checks on reference clips after the frozen tokenizer's
    round trip through the canonical camera (no generator): what the codes can hold."""
    picks = [reference[i] for i in rng.choice(len(reference), min(count, len(reference)), replace=False)]
    cams = np.stack([frames.world_to_canonical(c.world) for c in picks])
    worlds = [frames.canonical_to_world(w) for w in tok.decode(torch.from_numpy(tok.encode(cams)))]
    out = {"clips": len(picks)}
    for name, motions in (("original", [c.world for c in picks]), ("tokenizer_round_trip", worlds)):
        flights = [read_flight(w, FPS) for w in motions]
        readings = predict(classifier, [frames.canonical_world(w) for w in motions])
        sign = [1.0 if c.direction == "ccw" else -1.0 for c in picks]
        out[name] = {
            "element_accuracy": float(np.mean([r.element == Element(c.type, c.revolutions)
                                               for r, c in zip(readings, picks)])),
            "flight_found_share": float(np.mean([f is not None for f in flights])),
            "rule_revolutions_within_0.25_share": float(np.mean(
                [f is not None and abs(s * f.revolutions - c.revolutions) <= 0.25 for f, s, c in zip(flights, sign, picks)])),
            "g_in_range_share": float(np.mean([f is not None and gravity_is_real(f.g_pelvis) for f in flights])),
            "median_g_pelvis": float(np.median([f.g_pelvis for f in flights if f])) if any(flights) else None,
            "median_air_time_s": float(np.median([f.air_time_s for f in flights if f])) if any(flights) else None,
            "air_time_real_share": float(np.mean(
                [f is not None and air_time_is_real(f.air_time_s, c.revolutions, FPS) for f, c in zip(flights, picks)])),
        }
    return out


def contact_sheet(samples: dict, path: Path, per_element: int = 2, columns: int = 7, tile: int = 112) -> None:
    """Rows: samples; columns: frames from before take-off to after landing."""
    from PIL import Image, ImageDraw

    from sportanim.skeleton import camera_for_output, draw_skeleton

    rows = [(code, m) for code, ms in samples.items() for m in ms[:per_element]]
    sheet = Image.new("RGB", (columns * tile + 70, len(rows) * tile), (12, 12, 16))
    draw = ImageDraw.Draw(sheet)
    for r, (code, m) in enumerate(rows):
        t0 = m.takeoff_frame if m.takeoff_frame is not None else 16
        t1 = m.landing_frame if m.landing_frame is not None else 32
        picks = np.unique(np.clip(np.round(np.linspace(t0 - 6, t1 + 6, columns)), 0, len(m.joints) - 1).astype(int))
        k = camera_for_output(m.intrinsics, m.size, tile, tile)
        pictures = draw_skeleton(m.joints[picks], k, tile, tile)
        for c, (frame, picture) in enumerate(zip(picks, pictures)):
            sheet.paste(Image.fromarray(picture), (70 + c * tile, r * tile))
            air = t0 < frame < t1
            draw.text((72 + c * tile, r * tile + 2), f"{frame}{' air' if air else ''}", fill=(200, 200, 120))
        draw.text((4, r * tile + tile // 2 - 6), f"{code} {m.direction}", fill=(240, 240, 240))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth", type=Path, required=True, help="synthetic jump clips (reference motions)")
    parser.add_argument("--real", type=Path, required=True, help="FS-Jump3D import (real air times)")
    parser.add_argument("--elements", default="3Lz,2A,4T,3F,3Lo,3S")
    parser.add_argument("--count", type=int, default=20, help="samples per element")
    parser.add_argument("--direction", default="ccw")
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=Path, default=None, help="generator folder (default: shipped)")
    parser.add_argument("--classifier", type=Path, default=None, help="classifier folder (default: shipped)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sheet", type=Path, default=REPO / "docs" / "motion_samples.png")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "motion_generator.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    loaded = load_generator(args.weights)
    classifier = JumpClassifier.from_pretrained(args.classifier)
    reference = load_jump_clips([args.synth])
    real = load_jump_clips([args.real], include_flagged=True, mirrored=False)
    real_air = [r.landing - r.takeoff - 1 for r in real]  # airborne frames between the labels
    real_ok = [air_time_is_real(n / FPS, r.revolutions, FPS) for n, r in zip(real_air, real)]
    results = {"command": " ".join(["python"] + sys.argv), "guidance": args.guidance, "direction": args.direction,
               "threads": args.threads, "g_range": G_RANGE, "synthetic_air_time_range_s": AIR_TIME_RANGE,
               "fsjump3d_air_time_range_s": [round(min(real_air) / FPS, 3), round(max(real_air) / FPS, 3)],
               "fsjump3d_air_time_real_share": float(np.mean(real_ok)),
               "elements": {}}
    samples, all_feats, seconds = {}, [], 0.0
    for i, code in enumerate(args.elements.split(",")):
        element = parse_code(code)
        start = time.perf_counter()
        motions = sample_jump(element, direction=args.direction, count=args.count, seed=args.seed + i,
                              guidance=args.guidance, loaded=loaded)
        seconds += time.perf_counter() - start
        samples[element.code] = motions
        scores, feats = score_element(motions, reference, classifier, rng)
        results["elements"][element.code] = scores
        all_feats.append(feats)
        print(element.code, {k: v for k, v in scores.items() if not isinstance(v, list)}, flush=True)
    feats = np.concatenate(all_feats)
    ref_feats = np.stack([r.embed for r in predict(classifier, [c.world for c in reference])])
    elems = results["elements"].values()
    results["overall"] = {
        "samples": len(feats),
        "samples_per_second": round(len(feats) / seconds, 2),
        "element_accuracy": float(np.mean([e["element_accuracy"] for e in elems])),
        "type_accuracy": float(np.mean([e["type_accuracy"] for e in elems])),
        "rule_revolutions_within_0.25_share": float(np.mean([e["rule_revolutions_within_0.25_share"] for e in elems])),
        "g_in_range_share": float(np.mean([e["g_in_range_share"] for e in elems])),
        "air_time_real_share": float(np.mean([e["air_time_real_share"] for e in elems])),
        "air_time_real_share_as_sampled": float(np.mean([e["air_time_real_share_as_sampled"] for e in elems])),
        "g_in_range_share_as_sampled": float(np.mean([e["g_in_range_share_as_sampled"] for e in elems])),
        "guarded_share": float(np.mean([e["guarded_share"] for e in elems])),
        "diversity": pair_distance(feats, 200, rng),
        "reference_diversity": pair_distance(ref_feats, 200, rng),
    }
    results["tokenizer_ceiling"] = tokenizer_ceiling(reference, loaded[1], classifier, 60, rng)
    print("tokenizer ceiling", json.dumps(results["tokenizer_ceiling"]), flush=True)
    contact_sheet(samples, args.sheet)
    results["sheet"] = str(args.sheet.relative_to(REPO)) if args.sheet.is_relative_to(REPO) else str(args.sheet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["overall"], indent=2))


if __name__ == "__main__":
    main()
