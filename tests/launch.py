"""Shared by the distributed training tests: run ``sportanim.train`` in 2 CPU processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_in_two_processes(config: Path, data: Path, out: Path, init: Path) -> subprocess.CompletedProcess:
    """``accelerate launch --multi_gpu`` (its torchrun launcher; with no GPU visible it runs
    gloo on the CPU), 2 processes, one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "",
           "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
           "-m", "sportanim.train", "--config", str(config), "--data", str(data),
           "--out", str(out), "--init", str(init), "--quiet"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
