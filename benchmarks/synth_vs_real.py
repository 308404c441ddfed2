"""The synthetic jumps measured like the real FS-Jump3D ones, side by side.

    python benchmarks/synth_vs_real.py [--jumps 120]

Runs the flight detection and statistics of ``benchmarks/real_jumps.py``
(``sportanim.analysis.flight_candidates``: ankles 10 cm above their gliding height) on synthetic jumps' world joints, and writes both
summaries to ``benchmarks/results/synth_vs_real.json``. The real summary is read from
``real_jumps.json`` (run ``real_jumps.py`` first; it needs ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sportanim import analysis as an  # noqa: E402
from sportanim.skeleton import JOINT_INDEX as J  # noqa: E402
from sportanim.synth.jumps import JUMP_TYPES, jump_track, plan_jump  # noqa: E402
from sportanim.synth.kinematics import Body  # noqa: E402
from sportanim.synth.timeline import ANKLE_ON_ICE, perform, smooth_params  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
FPS = 30.0


def synthetic_flight(seed: int) -> dict:
    rng = np.random.default_rng([seed, 9])
    name = str(rng.choice(list(JUMP_TYPES)))
    plan = plan_jump(rng, name, FPS)
    perf = perform(smooth_params(jump_track(plan, FPS), 1.2), Body.sample(rng))
    j = perf.joints
    left, right = j[:, J["left_ankle"], 2] - ANKLE_ON_ICE, j[:, J["right_ankle"], 2] - ANKLE_ON_ICE
    flights = an.flight_candidates(left, right, FPS)
    start, end = max(flights, key=lambda f: f[1] - f[0])
    air = slice(start, end + 1)
    spin = an.rotation_speed(j[:, J["left_hip"]], j[:, J["right_hip"]], FPS)
    speed = an.horizontal_speed(j[:, J["pelvis"]], FPS)
    air_time = (end - start + 1) / FPS
    revs = an.air_revolutions(j[:, J["left_hip"]], j[:, J["right_hip"]], start, end)
    return {"jump": name, "label_revolutions": plan.revolutions, "air_time_s": air_time,
            "revolutions": revs, "peak_rev_s": float(np.abs(spin[air]).max()),
            "pelvis_rise_m": float(j[air, J["pelvis"], 2].max() - j[start, J["pelvis"], 2]),
            "takeoff_speed_m_s": float(speed[max(start - 3, 0):start].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jumps", type=int, default=120)
    args = parser.parse_args()
    flights = [synthetic_flight(s) for s in range(args.jumps)]
    keys = ("air_time_s", "revolutions", "peak_rev_s", "pelvis_rise_m", "takeoff_speed_m_s")
    synth = {k: [float(np.min([f[k] for f in flights])), float(np.max([f[k] for f in flights])),
                 float(np.mean([f[k] for f in flights]))] for k in keys}
    real_file = RESULTS / "real_jumps.json"
    real = json.loads(real_file.read_text())["summary"]["min_max_mean"] if real_file.exists() else None
    result = {"synthetic_min_max_mean": synth, "real_min_max_mean": {k: real[k] for k in keys} if real else None,
              "synthetic_jumps": len(flights), "fps": FPS}
    print(f"{'statistic':20s} {'synthetic min/max/mean':>28s} {'real (FS-Jump3D)':>28s}")
    for k in keys:
        r = "  ".join(f"{v:7.2f}" for v in real[k]) if real else "n/a"
        print(f"{k:20s} {'  '.join(f'{v:7.2f}' for v in synth[k]):>28s} {r:>28s}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth_vs_real.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
