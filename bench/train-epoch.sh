#!/usr/bin/env bash
# Times one training epoch of LeNet-300-100 and LeNet-5 on the full embedded MNIST in SlimNet and in PyTorch
# (Debian's python3-torch with OpenBLAS), side by side in one run, same batch size (128), optimizer (Adam,
# lr 1e-3) and thread count. Each side runs 2 epochs; the second epoch's training time (no evaluation) counts.
# Usage: bench/train-epoch.sh [--threads N]     (needs: scripts/setup.sh --peers)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc)
[[ "${1:-}" == "--threads" ]] && threads=$2
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "PyTorch peer missing: run 'bash scripts/setup.sh --peers'" >&2; exit 2; }
[[ -f src/SlimNet.Cli/bin/Release/net10.0/slimnet.dll ]] || bash scripts/setup.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf "%-15s %12s %12s %8s\n" model "slimnet s" "pytorch s" ratio
for model in lenet-300-100 lenet-5; do
  SLIMNET_THREADS=$threads ./slimnet train --model "$model" --epochs 2 --schedule constant --lr 0.001 --optimizer adam \
    --batch-size 128 --out "$tmp/$model.ckpt" --json > "$tmp/$model.json"
  s=$(sed -n 2p "$tmp/$model.ckpt.jsonl" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['seconds'])")
  # The peer alone gets OpenBLAS's own kernel choice (PLATFORM.md); never in tests.
  p=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/pytorch_train_epoch.py --model "$model" --epochs 2 --threads "$threads" \
      | sed -n 2p | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['seconds'])")
  printf "%-15s %12.2f %12.2f %7.2fx\n" "$model" "$s" "$p" "$(/usr/bin/python3 -c "print($p / $s)")"
done
