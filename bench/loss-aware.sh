#!/usr/bin/env bash
# Loss-aware quantization (issue 7): every quantizer and baseline of recipes/loss-aware/ on mlp-2048x3-bn and LeNet-5,
# plus the simultaneous ternarization + sparsification of LeNet-300-100. For each model the full-precision baseline is
# trained once (seed 1, the model's defaults; mlp-2048x3-bn with --mlp-epochs), every recipe then starts from that
# checkpoint (`slimnet compress --checkpoint`), and `slimnet run` re-measures each .slim with the pure C# runtime.
# Writes DIR/loss-aware.md (the table for docs/RESULTS.md) and keeps every JSON result in DIR; rows already measured
# (their JSON exists) are not run again, so the command can be resumed or run in parts with --only.
#
# Usage: bench/loss-aware.sh [--out DIR] [--only REGEX] [--mlp-epochs N] [--baseline MODEL=CKPT]...
#   --out DIR            results folder (default out/loss-aware)
#   --only REGEX         run only recipes whose file name matches (e.g. 'lenet-5-late|mlp-2048x3-bn-(lab|lata)')
#   --mlp-epochs N       epochs of the mlp-2048x3-bn baseline (default 20, the model's default)
#   --baseline M=FILE    use an existing checkpoint of model M (trained as above) instead of training one
# Runs with SLIMNET_THREADS=1 (set it to change); one job at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/loss-aware
only=.
mlp_epochs=20
declare -A given=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --mlp-epochs) mlp_epochs=$2; shift 2 ;;
    --baseline) given[${2%%=*}]=${2#*=}; shift 2 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
export SLIMNET_THREADS=${SLIMNET_THREADS:-1}
slimnet=${SLIMNET_CLI:-./slimnet}
mkdir -p "$out"

baseline() { # model -> checkpoint path (trains it once)
  local model=$1 ckpt="$out/$1.baseline.ckpt"
  if [[ -n "${given[$model]:-}" ]]; then echo "${given[$model]}"; return; fi
  if [[ ! -f "$ckpt" ]]; then
    local extra=()
    [[ "$model" == mlp-2048x3-bn ]] && extra=(--epochs "$mlp_epochs")
    echo "training the $model baseline" >&2
    nice -n 10 $slimnet train --model "$model" --seed 1 "${extra[@]}" --out "$ckpt.tmp" --json > "$out/$model.baseline.json"
    mv "$ckpt.tmp" "$ckpt"; mv "$ckpt.tmp.jsonl" "$ckpt.jsonl"
  fi
  echo "$ckpt"
}

for recipe in recipes/loss-aware/*.yaml; do
  name=$(basename "$recipe" .yaml)
  [[ "$name" =~ $only ]] || continue
  case "$name" in
    mlp-2048x3-bn-*) model=mlp-2048x3-bn ;;
    lenet-5-*) model=lenet-5 ;;
    lenet-300-100-*) model=lenet-300-100 ;;
    *) continue ;;
  esac
  [[ -f "$out/$name.run.json" ]] && continue
  ckpt=$(baseline "$model")
  echo "$name: compress" >&2
  nice -n 10 $slimnet compress --recipe "$recipe" --checkpoint "$ckpt" --out "$out/$name.slim" --json > "$out/$name.json.tmp"
  mv "$out/$name.json.tmp" "$out/$name.json"
  nice -n 10 $slimnet run "$out/$name.slim" --json > "$out/$name.run.json.tmp"
  mv "$out/$name.run.json.tmp" "$out/$name.run.json"
done

/usr/bin/python3 - "$out" <<'EOF'
import json, os, sys, glob
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "*.run.json"))):
    name = os.path.basename(path)[:-len(".run.json")]
    c = json.load(open(os.path.join(out, name + ".json")))
    r = json.load(open(path))
    weights = [l for l in c["layers"] if l["name"].endswith(".weight") and l["encoding"] != "float32"]
    forms = sorted({f'{l["encoding"]} {l["layout"]}' for l in weights})
    # zero codes per quantized tensor from the stage report (a dense layout stores its zeros too)
    sparsity = c["stages"][-1]["sparsity"] if c["stages"] else {}
    zeros = sum(sparsity.get(l["name"], 1 - l["stored"] / max(l["elements"], 1)) * l["elements"] for l in weights)
    elements = sum(l["elements"] for l in weights)
    rows.append((c["model"], name, 100 * (1 - c["baseline_test_accuracy"]), 100 * (1 - c["test_accuracy"]), 100 * (1 - r["test_accuracy"]),
                 c["file_bytes"], c["compression_ratio"], ", ".join(forms), 100 * zeros / max(elements, 1)))
with open(os.path.join(out, "loss-aware.md"), "w") as f:
    f.write("| model | recipe | FP baseline error | quantized error (TorchSharp) | error, `slimnet run` | file bytes | file ratio | stored form of the quantized weights | zeros in them |\n")
    f.write("|---|---|---|---|---|---|---|---|---|\n")
    for m, n, b, e, re, fb, ratio, forms, z in rows:
        f.write(f"| {m} | `{n}.yaml` | {b:.2f} % | {e:.2f} % | {re:.2f} % | {fb:,} | {ratio:.1f}x | {forms} | {z:.1f} % |\n")
print(open(os.path.join(out, "loss-aware.md")).read())
EOF
