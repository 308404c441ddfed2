#!/usr/bin/env bash
# Creates .venv with the pinned CPU torch first (an unpinned dependency would pull a
# multi-GB CUDA build), then sportanim and its test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,pose]"
echo "sportanim installed in .venv"
