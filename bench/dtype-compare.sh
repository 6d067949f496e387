#!/usr/bin/env bash
# 16-bit storage against float32 on one engine: `cudnnrnn bench` in float32, float16 and bfloat16, interleaved in rounds
# (the order rotates each round so no type always runs first on a warm or a busy machine); the ratio 16-bit ÷ float32 is
# taken within each round and the table gives its median over rounds with the lowest and highest beside it.
#
#   bench/dtype-compare.sh                          # cpu engine, shapes a-e, 3 rounds
#   bench/dtype-compare.sh --engine opencl --shape a --rounds 2 --out /tmp/dt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
engine=cpu; shape=all; rounds=3; reps=10; warmup=2
out="$root/artifacts/bench/dtype-$(date -u +%Y%m%dT%H%M%SZ)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    --shape) shape="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
dotnet build "$root/src/CudnnRnn.Cli" -c Release -v quiet -nologo >/dev/null
cli=(dotnet "$root/src/CudnnRnn.Cli/bin/Release/net10.0/CudnnRnn.Cli.dll")
types=(float32 float16 bfloat16)
for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < 3; k++)); do
    t="${types[$(( (k + r - 1) % 3 ))]}"
    echo "round $r: $t" >&2
    "${cli[@]}" bench --engine "$engine" --shape "$shape" --dtype "$t" --reps "$reps" --warmup "$warmup" \
      --json "$out/r$r-$t.json" >/dev/null
  done
done
python3 - "$out" "$rounds" <<'PY' | tee "$out/results.md"
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(r, t):
    d = json.load(open(f"{out}/r{r}-{t}.json"))
    return d, {(x["shape"], x["phase"]): x["medianMs"] for x in d["results"]}
meta, _ = load(1, "float32")
print(f"engine {meta['engine']} ({meta['device']}), {rounds} rounds, median of >= {meta['minReps']} reps per run\n")
print("| shape | phase | float32 ms | float16 ms | bfloat16 ms | float16 ÷ float32 | bfloat16 ÷ float32 |")
print("|---|---|---|---|---|---|---|")
keys = list(load(1, "float32")[1].keys())
def cell(v): return f"{statistics.median(v):.2f} [{min(v):.2f}–{max(v):.2f}]"
for key in keys:
    ms = {t: [load(r, t)[1][key] for r in range(1, rounds + 1)] for t in ("float32", "float16", "bfloat16")}
    ratio = {t: [ms[t][i] / ms["float32"][i] for i in range(rounds)] for t in ("float16", "bfloat16")}
    print(f"| {key[0]} | {key[1]} | {statistics.median(ms['float32']):.2f} | {statistics.median(ms['float16']):.2f} | "
          f"{statistics.median(ms['bfloat16']):.2f} | {cell(ratio['float16'])} | {cell(ratio['bfloat16'])} |")
PY
echo "results: $out/results.md" >&2
