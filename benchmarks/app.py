"""The coaches' web app (``sportanim app``) as a user meets it: how long does it take to start,
how fast is the page, how long is one 2A, and does the server's memory grow?

1. Start: ``python -m sportanim app --port P`` in a fresh process (imports, the model loaded
   once, the sample athletes rendered, the server up) until ``GET /`` answers 200.
2. Time to first byte of the page: ``GET /`` on the app against the same HTML served by a
   plain ``python -m http.server`` on the same machine in the same run (median of
   ``--requests``; ratio app / static).
3. Generations: ``--generations`` 2A requests through the app's API (``gradio_client``, the
   page's own route: upload, queue, handler, files), a synthetic athlete photo, seed k,
   ``--steps`` steps; seconds each and the server's RSS (``/proc/PID/status``) after each.
   Growth: last RSS minus the RSS after the first and after the second (the first warms
   caches up), and the least-squares slope from the second on (MB per generation).

    OMP_NUM_THREADS=1 python benchmarks/app.py [--generations 10] [--steps 25] [--requests 200]

Writes benchmarks/results/app.json (``--out``; the long memory run:
``--generations 40 --steps 1 --requests 10 --out benchmarks/results/app_long.json``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_byte_s(port: int, path: str = "/") -> tuple[float, bytes]:
    """Seconds from sending ``GET path`` to the response's first byte, and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        begun = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()  # returns once the status line (the first bytes) is read
        first = time.perf_counter() - begun
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} on {port}: HTTP {response.status}")
        return first, body
    finally:
        connection.close()


def wait_for(port: int, process: subprocess.Popen, limit_s: float) -> float:
    """Seconds until ``GET /`` answers 200 (the process must stay alive)."""
    begun = time.perf_counter()
    while time.perf_counter() - begun < limit_s:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            first_byte_s(port)
            return time.perf_counter() - begun
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port} in {limit_s:.0f} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def page_speed(app_port: int, folder: Path, requests: int) -> dict:
    """Median time to first byte of the app's page against the same bytes from http.server."""
    _, html = first_byte_s(app_port)
    (folder / "index.html").write_bytes(html)
    static_port = free_port()
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1",
                               "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(static_port, static, 30)
        first_byte_s(static_port)  # both warm
        app_s, static_s = [], []
        for _ in range(requests):  # interleaved, so a busy moment of the machine hits both
            app_s.append(first_byte_s(app_port)[0])
            static_s.append(first_byte_s(static_port)[0])
    finally:
        static.terminate()
        static.wait()
    app_ms, static_ms = 1000 * statistics.median(app_s), 1000 * statistics.median(static_s)
    tail = {name: round(1000 * statistics.quantiles(times, n=10)[-1], 2)  # the slow tenth (a busy machine)
            for name, times in (("app_p90_ms", app_s), ("static_p90_ms", static_s))}
    return {"page_bytes": len(html), "requests": requests, "app_ttfb_ms": round(app_ms, 2),
            "static_ttfb_ms": round(static_ms, 2), "ratio": round(app_ms / static_ms, 1), **tail}


def generations(port: int, pid: int, photo: Path, count: int, steps: int) -> list[dict]:
    """``count`` 2A requests through the page's API route, one after the other."""
    from gradio_client import Client, handle_file

    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    rows = []
    for k in range(count):
        begun = time.perf_counter()
        panel, files, info = client.predict(handle_file(str(photo)), "ISU element", "2A", None, 1.0, False, 0, 0, k,
                                            steps, True, api_name="/generate")
        seconds = time.perf_counter() - begun
        row = {"generation": k + 1, "seconds": round(seconds, 2), "rss_mb": round(rss_mb(pid), 1),
               "files": len(files)}
        print(row, flush=True)
        rows.append(row)
    return rows


def slope(values: list[float]) -> float | None:
    """Least-squares MB per generation (None for fewer than 2 values)."""
    if len(values) < 2:
        return None
    mean_x, mean_y = (len(values) - 1) / 2, statistics.fmean(values)
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    return round(num / sum((x - mean_x) ** 2 for x in range(len(values))), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "app.json")
    args = parser.parse_args()
    from PIL import Image

    from sportanim.synth.world import make_clip

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = folder / "athlete.png"
        Image.fromarray(make_clip(0, 2, "walk", size=(256, 256), frames=2).frames[0]).save(photo)
        port = free_port()
        command = [sys.executable, "-m", "sportanim", "app", "--port", str(port), "--device", "cpu"]
        if args.weights is not None:
            command += ["--weights", str(args.weights)]
        begun = time.perf_counter()
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
        try:
            start_s = wait_for(port, server, 300)
            print({"start_s": round(start_s, 1), "rss_mb": round(rss_mb(server.pid), 1)}, flush=True)
            started_rss = rss_mb(server.pid)
            page = page_speed(port, folder, args.requests)
            print(page, flush=True)
            rows = generations(port, server.pid, photo, args.generations, args.steps)
        finally:
            server.terminate()
            server.wait(timeout=60)
        total_s = time.perf_counter() - begun
    seconds = [r["seconds"] for r in rows]
    rss = [r["rss_mb"] for r in rows]
    result = {
        "command": " ".join(["OMP_NUM_THREADS=1 python benchmarks/app.py", *sys.argv[1:]]),
        "weights": str(args.weights or "shipped tiny base"), "device": "cpu", "steps": args.steps,
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"), "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "start_s": round(start_s, 1), "rss_started_mb": round(started_rss, 1),
        "page": page,
        "generation_s": {"first": seconds[0], "median": round(statistics.median(seconds), 2), "max": max(seconds)},
        "rss_mb": {"after_first": rss[0], "after_last": rss[-1], "growth_after_first": round(rss[-1] - rss[0], 1),
                   "growth_after_second": round(rss[-1] - rss[min(1, len(rss) - 1)], 1),
                   "slope_mb_per_generation": slope(rss[1:]), "range_after_first": [min(rss[1:], default=None),
                                                                              max(rss[1:], default=None)]},
        "generations": rows, "benchmark_s": round(total_s, 1),
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "generations"}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
