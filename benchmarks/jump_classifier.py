"""Jump classifier accuracy on motion it has not seen.

    python benchmarks/jump_classifier.py --synth DIR --real DIR [--steps 600] [--seed 0]

``--synth``: an FSJD folder of synthetic jump clips (``sportanim synth --domain jump``);
``--real``: FS-Jump3D imported with ``sportanim data import-fsjump3d`` (skaters A and B).

1. Held-out synthetic athletes: train on the synthetic clips of every athlete but the last
   ``--holdout`` ids (a20-a23 of the 24) plus all real clips; test on those athletes.
2. Real skater folds: train on all synthetic clips plus skater A, test on skater B, and back.
   Test clips include those a quality gate flagged (a mocap glitch does not change the jump).
Both directions of every clip (mirrors) are in train and test. Besides the learnt model,
the rule-based count (hip-axis turns over the detected flight) is scored against the
nominal revolutions. Writes ``benchmarks/results/jump_classifier.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sportanim.motion.classify import evaluate_classifier, fit_classifier  # noqa: E402
from sportanim.motion.clips import load_jump_clips  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth", type=Path, required=True)
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--holdout", type=int, default=4, help="last N synthetic athlete ids held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "jump_classifier.json")
    args = parser.parse_args()

    synth = load_jump_clips([args.synth])
    real_all = load_jump_clips([args.real], include_flagged=True)
    real_train = load_jump_clips([args.real])
    held = {f"a{k:02d}" for k in range(24 - args.holdout, 24)}
    results = {"command": " ".join(["python"] + sys.argv), "steps": args.steps, "seed": args.seed,
               "clips": {"synthetic": len(synth), "real": len(real_all), "real_passed_quality": len(real_train)}}
    started = time.time()
    train = [c for c in synth if c.athlete not in held] + real_train
    test = [c for c in synth if c.athlete in held]
    model = fit_classifier(train, args.seed, args.steps)
    results["synthetic_heldout_athletes"] = {"athletes": sorted(held), "train_clips": len(train),
                                             **evaluate_classifier(model, test)}
    for train_on, test_on in (("A", "B"), ("B", "A")):
        skater = lambda c, s: c.athlete.endswith(s)  # noqa: E731
        train = synth + [c for c in real_train if skater(c, train_on)]
        test = [c for c in real_all if skater(c, test_on)]
        model = fit_classifier(train, args.seed, args.steps)
        results[f"real_train_{train_on}_test_{test_on}"] = {"train_clips": len(train),
                                                            **evaluate_classifier(model, test)}
    results["seconds"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
