#!/usr/bin/env bash
# The README's first command: sets SlimNet up (Debian packages, NuGet restore, Release build), then runs the
# main job on the embedded MNIST default and leaves its outputs in out/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out/quickstart
./slimnet train --model lenet-300-100 --epochs 3 --out out/quickstart/lenet-300-100.ckpt
./slimnet eval --checkpoint out/quickstart/lenet-300-100.ckpt
echo "quickstart: outputs in out/quickstart/"
