#!/usr/bin/env bash
# Issue 7's MLP targets over several seeds: the distilled recipes (LAB, LATa, LAQ 2-bit) and their full-precision control
# (the same 8 distilled epochs without quantization) each run from one full-precision mlp-2048x3-bn checkpoint with
# `slimnet compress --seed S` for every seed S (the seed drives the fine-tuning's data order), then `slimnet run` re-measures
# each .slim with the pure C# runtime. Writes DIR/seeds.md: test error per seed and the mean per recipe. Results already
# present (DIR/NAME-sS.run.json) are not run again, so the command can be resumed.
#
# Usage: bench/loss-aware-seeds.sh --checkpoint MLP.ckpt [--out DIR] [--seeds "1 2 3"]
#   --checkpoint FILE   the full-precision mlp-2048x3-bn (e.g. `slimnet train --model mlp-2048x3-bn --seed 1 --out FILE`)
#   --out DIR           results folder (default out/loss-aware-seeds)
#   --seeds LIST        seeds (default "1 2 3")
# Runs with SLIMNET_THREADS=1 (set it to change); one job at a time (about 25 minutes per run at one thread).
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/loss-aware-seeds
seeds="1 2 3"
ckpt=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) ckpt=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$ckpt" ]] || { echo "error: --checkpoint FILE (a trained mlp-2048x3-bn) is required" >&2; exit 2; }
[[ -f "$ckpt" ]] || { echo "error: --checkpoint $ckpt: no such file" >&2; exit 2; }
export SLIMNET_THREADS=${SLIMNET_THREADS:-1}
slimnet=${SLIMNET_CLI:-./slimnet}
mkdir -p "$out"
names="mlp-2048x3-bn-fp-distilled mlp-2048x3-bn-lab-distilled mlp-2048x3-bn-lata-distilled mlp-2048x3-bn-laq-linear2-distilled"
for name in $names; do
  for s in $seeds; do
    run="$out/$name-s$s"
    [[ -f "$run.run.json" ]] && continue
    echo "$name, seed $s: compress" >&2
    $slimnet compress --recipe "recipes/loss-aware/$name.yaml" --checkpoint "$ckpt" --seed "$s" --out "$run.slim" --json > "$run.json.tmp"
    mv "$run.json.tmp" "$run.json"
    $slimnet run "$run.slim" --json > "$run.run.json.tmp"
    mv "$run.run.json.tmp" "$run.run.json"
  done
done

/usr/bin/python3 - "$out" "$seeds" $names <<'PY'
import json, os, sys
out, seeds, names = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
lines = ["| recipe | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | `slimnet run` equal on all | file ratio |",
         "|---|" + "---|" * (len(seeds) + 3)]
for name in names:
    errs, same, ratios = [], True, []
    for s in seeds:
        base = os.path.join(out, f"{name}-s{s}")
        if not os.path.exists(base + ".run.json"):
            errs.append(None); continue
        c, r = json.load(open(base + ".json")), json.load(open(base + ".run.json"))
        errs.append(100 * (1 - c["test_accuracy"]))
        same = same and abs(c["test_accuracy"] - r["test_accuracy"]) <= 0.0005
        ratios.append(c["compression_ratio"])
    have = [e for e in errs if e is not None]
    mean = f"**{sum(have) / len(have):.3f} %**" if len(have) == len(seeds) else "incomplete"
    cells = " | ".join("not run" if e is None else f"{e:.2f} %" for e in errs)
    ratio = f"{sum(ratios) / len(ratios):.1f}x" if ratios else "–"
    lines.append(f"| `{name}.yaml` | {cells} | {mean} | {'yes' if same and have else 'no'} | {ratio} |")
text = "\n".join(lines) + "\n\nTest error on the 10,000 MNIST test images (TorchSharp, after the last fine-tuning epoch); mean over the seeds.\n"
open(os.path.join(out, "seeds.md"), "w").write(text)
print(text)
PY
