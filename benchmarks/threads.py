"""Training beside another busy process: how much slower does sportanim get?

A worker process trains the tiny MV-DiT on random inputs (batch 8, the step of
``benchmarks/models.py``) for ``--seconds`` and reports its steps/s. It runs alone and then
beside a competitor this script starts itself: the same training loop with torch's own
defaults (a thread per core, spinning waits), i.e. another user's job. Each way twice:

- ``torch-default``: the worker as torch starts it (a thread per core, spinning waits);
- ``sportanim``: the worker under ``sportanim.threads.apply_thread_policy`` (the CLI's policy:
  the cores idle at start, short spinning).

``slowdown`` = steps/s alone / steps/s beside the competitor (target <= 3 for ``sportanim``);
the competitor's own steps/s are reported too (a policy should not win by starving it).

    python benchmarks/threads.py [--seconds 20] [--out benchmarks/results/threads.json]

Run it on an otherwise idle machine: every other process is a competitor too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from sportanim.io.files import write_text

ROOT = Path(__file__).resolve().parent
POLICY_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


def worker(seconds: float, policy: str) -> None:
    """Train for ``seconds`` (after one warm-up step); print {"steps_per_s", "threads"}."""
    if policy == "sportanim":
        from sportanim.threads import apply_thread_policy

        apply_thread_policy()
    import torch

    sys.path.insert(0, str(ROOT))
    from models import tiny_dit_step

    step, _ = tiny_dit_step(8)
    step()
    steps, begun = 0, time.perf_counter()
    while time.perf_counter() - begun < seconds:
        step()
        steps += 1
    print(json.dumps({"steps_per_s": steps / (time.perf_counter() - begun), "threads": torch.get_num_threads()}),
          flush=True)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in POLICY_ENV}


def _start(seconds: float, policy: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--worker", policy, "--seconds", str(seconds)],
                            env=_clean_env(), stdout=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"worker failed with exit code {process.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def measure(policy: str, seconds: float) -> dict:
    alone = _result(_start(seconds, policy))
    competitor = _start(seconds + 15, "torch-default")  # outlives the worker
    time.sleep(5)  # the competitor is past its imports and warm-up, busy
    beside = _result(_start(seconds, policy))
    other = _result(competitor)
    row = {"policy": policy, "alone": alone, "beside_competitor": beside,
           "competitor_steps_per_s": other["steps_per_s"],
           "slowdown": alone["steps_per_s"] / beside["steps_per_s"]}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training time per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "threads.json")
    parser.add_argument("--worker", choices=("torch-default", "sportanim"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.seconds, args.worker)
        return
    result = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "load_average_1min_at_start": os.getloadavg()[0]},
              "seconds": args.seconds, "workload": "tiny MV-DiT training step, batch 8, float32",
              "rows": [measure(policy, args.seconds) for policy in ("torch-default", "sportanim")]}
    result["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
