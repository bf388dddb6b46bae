#!/usr/bin/env bash
# The README's first command: sets SlimNet up (Debian packages, NuGet restore, Release build), then runs the
# main job on the embedded MNIST: trains LeNet-300-100, compresses it with the Deep Compression recipe
# (pruning + weight sharing + Huffman-coded relative indices), checks the .slim with the pure C# runtime and
# writes a report with plots. Everything lands in out/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=out/quickstart
mkdir -p "$out"
./slimnet compress --recipe recipes/deep-compression-lenet-300-100.yaml --model lenet-300-100 --out "$out/lenet-300-100.slim"
./slimnet run "$out/lenet-300-100.slim"
./slimnet report "$out/lenet-300-100.slim" --baseline "$out/lenet-300-100.slim.baseline.ckpt" --out "$out/report"
echo "quickstart: compressed model $out/lenet-300-100.slim, report $out/report/report.md"
