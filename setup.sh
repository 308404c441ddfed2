#!/usr/bin/env bash
# Creates .venv with the pinned torch + torchvision pair first (an unpinned dependency would
# pull another multi-GB build), then sportanim and its test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[dev,pose,app,cluster]"
echo "sportanim installed in .venv"
