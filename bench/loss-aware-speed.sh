#!/usr/bin/env bash
# Training speed of loss-aware quantization (issue 7) on mlp-2048x3-bn: examples/s of one fine-tuning epoch of each
# recipes/loss-aware/mlp-2048x3-bn-*.yaml (`slimnet compress --checkpoint CKPT --max-epochs 1`) against full-precision
# training of the same network (`slimnet train`, the model's defaults: Adam, batch 100 — the recipes' fine-tuning settings),
# at the same thread count. The runs alternate (FP, quantizer, FP, quantizer, …, FP) so that both see the same machine
# load, and each quantizer is compared with the mean of the FP runs just before and after it. Only the training epoch is
# timed (the trainer's "N ex/s"; loading, evaluation and encoding are not).
#
# Usage: bench/loss-aware-speed.sh --checkpoint CKPT [--limit N] [--only REGEX] [--out DIR]
#   --checkpoint CKPT   a trained mlp-2048x3-bn checkpoint (the quantizers start from it)
#   --limit N           train on the first N examples (default 6000: 60 steps of 100)
#   --only REGEX        recipes whose name matches (default all), e.g. 'lab|lata|laq-linear2'
#   --out DIR           logs and the table (default out/loss-aware-speed)
# Threads: SLIMNET_THREADS (default 1). Prints the table and writes it to DIR/speed.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=""
limit=6000
only=.
out=out/loss-aware-speed
while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) ckpt=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$ckpt" && -f "$ckpt" ]] || { echo "error: --checkpoint CKPT (a trained mlp-2048x3-bn checkpoint) is required" >&2; exit 2; }
export SLIMNET_THREADS=${SLIMNET_THREADS:-1}
slimnet=${SLIMNET_CLI:-./slimnet}
mkdir -p "$out"

rate() { # log -> examples/s of epoch 1
  tr '\n' ' ' < "$1" | grep -o 'epoch 1:[^)]*)' | grep -o '([0-9,]* ex/s)' | tr -d '(),a-z/ '
}
fp_run() { # index -> examples/s
  nice -n 10 $slimnet train --model mlp-2048x3-bn --limit "$limit" --epochs 1 --out "$out/fp.ckpt" > "$out/fp$1.log" 2>&1
  rate "$out/fp$1.log"
}

names=()
for recipe in recipes/loss-aware/mlp-2048x3-bn-*.yaml; do
  name=$(basename "$recipe" .yaml)
  [[ "${name#mlp-2048x3-bn-}" =~ $only ]] && names+=("$name")
done
[[ ${#names[@]} -gt 0 ]] || { echo "error: no recipe matches --only $only" >&2; exit 2; }

table="$out/speed.md"
{
  echo "mlp-2048x3-bn, SLIMNET_THREADS=$SLIMNET_THREADS, --limit $limit, $(date -u '+%Y-%m-%d %H:%M UTC'), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| recipe | FP ex/s before | quantized ex/s | FP ex/s after | time ratio quantized / FP |"
  echo "|---|---|---|---|---|"
} > "$table"
before=$(fp_run 0)
i=0
for name in "${names[@]}"; do
  i=$((i + 1))
  nice -n 10 $slimnet compress --checkpoint "$ckpt" --recipe "recipes/loss-aware/$name.yaml" --limit "$limit" --max-epochs 1 \
    --out "$out/$name.slim" > "$out/$name.log" 2>&1
  q=$(rate "$out/$name.log")
  after=$(fp_run "$i")
  ratio=$(awk -v b="$before" -v a="$after" -v q="$q" 'BEGIN { printf "%.2fx", (b + a) / 2 / q }')
  echo "| $name | $before | $q | $after | $ratio |" >> "$table"
  before=$after
done
echo >> "$table"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$table"
cat "$table"
