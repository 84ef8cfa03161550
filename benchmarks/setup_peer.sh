#!/usr/bin/env bash
# Make benchmarks/.peer-venv: matgen plus lucidrains' denoising-diffusion-pytorch, for train_speed.py's
# peer comparison. The peer is installed here only, never in matgen's environment, and without its
# torchvision / pytorch-fid dependencies (the benchmark stubs torchvision; see train_speed.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv benchmarks/.peer-venv
benchmarks/.peer-venv/bin/pip install -q -c constraints.txt -e .
benchmarks/.peer-venv/bin/pip install -q -c constraints.txt einops ema-pytorch accelerate tqdm
benchmarks/.peer-venv/bin/pip install -q --no-deps denoising-diffusion-pytorch==2.3.4
echo "peer environment ready: benchmarks/.peer-venv/bin/python benchmarks/train_speed.py --peer"
