"""How many threads torch gets, on a machine other processes may be using.

torch starts as many OpenMP threads as there are cores and lets them spin while they wait
for work. With a second busy process on the same cores both fight for every core, and
spinning threads burn the time the other process needs: on a 2-core machine a tiny DiT
trained ~30x slower beside another job. The policy here, applied by the CLI before torch
is imported (``sportanim --threads N ...`` sets it by hand):

- threads: ``--threads`` if given, else ``OMP_NUM_THREADS`` if the user set it, else the
  cores that are idle right now (``/proc/stat`` sampled for a tenth of a second; at least 1,
  at most the cores this process may run on);
- waiting: OpenMP threads yield the core after a short spin (``GOMP_SPINCOUNT``) instead of
  spinning for ~300k iterations, unless the user set a wait policy of their own.

``python benchmarks/threads.py`` measures the slow-down beside a competing process.
"""

from __future__ import annotations

import os
import sys
import time

SPIN_COUNT = "10000"  # GOMP's default is 300000 spins before sleeping
SAMPLE_S = 0.1


def usable_cores() -> int:
    """Cores this process may run on (its affinity set where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of all cores since boot, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return idle, sum(fields[:8])


def idle_cores(sample_s: float = SAMPLE_S) -> float:
    """How many cores sat idle over the next ``sample_s`` seconds (from the load average
    where /proc/stat is missing)."""
    total_cores = os.cpu_count() or 1
    before = _cpu_times()
    if before is None:
        try:
            return max(0.0, total_cores - os.getloadavg()[0])
        except OSError:
            return float(total_cores)
    time.sleep(sample_s)
    after = _cpu_times()
    spent = after[1] - before[1]
    if spent <= 0:
        return float(total_cores)
    return total_cores * (after[0] - before[0]) / spent


def choose_threads(requested: int | None = None, environ=os.environ) -> tuple[int, str]:
    """``(threads, why)`` by the policy of this module."""
    cores = usable_cores()
    if requested is not None:
        if requested < 1:
            raise ValueError(f"--threads {requested}: give at least 1")
        return requested, "--threads"
    given = environ.get("OMP_NUM_THREADS", "").strip()
    if given:
        try:
            if int(given) >= 1:
                return int(given), "OMP_NUM_THREADS"
        except ValueError:
            pass
        raise ValueError(f"OMP_NUM_THREADS={given!r}: give a whole number of threads, at least 1")
    free = idle_cores()
    return max(1, min(cores, int(free + 0.5))), f"{free:.1f} of {cores} cores idle"


def apply_thread_policy(requested: int | None = None, environ=os.environ) -> tuple[int, str]:
    """Choose the thread count and make torch use it, with short spinning; before torch is
    imported this goes through the environment (so its first OpenMP pool is the right
    size). A torch already running (the CLI called inside another program, e.g. a test)
    and its environment are left alone unless ``requested`` says so (then
    ``torch.set_num_threads``)."""
    if "torch" in sys.modules and requested is None:  # inside another program: its choice stands
        return sys.modules["torch"].get_num_threads(), "torch already running"
    threads, why = choose_threads(requested, environ)
    if "OMP_WAIT_POLICY" not in environ:
        environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return threads, why
