#!/usr/bin/env bash
# Side-by-side CPU benchmark: libtorch (../shared/tools/libtorch-bench) and `cudnnrnn bench`, interleaved per thread
# count so both see the same machine load, both writing JSON; then ratio tables.
#
#   bench/compare.sh                       # shapes a-e, threads 2 then 1, float32, 3 rounds
#   bench/compare.sh --shape a,d --threads "1" --rounds 1 --out /tmp/cmp
#
# Tables: median time ratios ours-full ÷ libtorch-dense and ÷ libtorch-packed, ours-varied ÷ libtorch-packed
# (< 1 = ours faster), and our sgemm as % of torch.mm on libtorch-bench's sgemm shapes. JSON files and results.md land in
# --out (default artifacts/bench/<timestamp>). These machines are shared and a single pass can be off by 10-30 % when a
# neighbour is busy, so the pair is run in rounds (libtorch first in odd rounds, ours first in even ones): a ratio is
# computed within each round, and the table gives the median over rounds with the lowest and highest beside it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# libtorch-bench lives in shared/ beside the repository; a git worktree elsewhere finds it beside the main checkout.
find_libtorch() {
  local dir candidates=("$root/..")
  local common; common="$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  [[ -n "$common" ]] && candidates+=("$(dirname "$common")/..")
  dir="$root"; while [[ "$dir" != "/" ]]; do dir="$(dirname "$dir")"; candidates+=("$dir"); done
  for dir in "${candidates[@]}"; do
    if [[ -x "$dir/shared/tools/libtorch-bench/run.sh" ]]; then echo "$(cd "$dir" && pwd)/shared/tools/libtorch-bench/run.sh"; return; fi
  done
  echo "$root/../shared/tools/libtorch-bench/run.sh"
}
libtorch="$(find_libtorch)"
shape=all
threads="2 1"
rounds=3
out="$root/artifacts/bench/$(date -u +%Y%m%dT%H%M%SZ)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shape) shape="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ ! -x "$libtorch" ]]; then
  echo "compare.sh: libtorch-bench not found at $libtorch (expected the repository's parent directory to hold shared/)" >&2
  exit 2
fi
mkdir -p "$out"

echo "== building cudnnrnn (Release)"
dotnet build "$root/src/CudnnRnn.Cli" -c Release -nologo -v q >/dev/null
cli_dll="$(dotnet msbuild "$root/src/CudnnRnn.Cli" -nologo -getProperty:TargetPath -p:Configuration=Release)"
ours() { dotnet "$cli_dll" bench "$@"; }

if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then echo "compare.sh: --rounds must be a positive integer, got '$rounds'" >&2; exit 2; fi
run_libtorch() { # round threads
  local gemm=(); [[ "$1" -gt 1 ]] && gemm=(--no-gemm)   # the sgemm table once, in round 1
  echo "== round $1, threads $2: libtorch"
  "$libtorch" --threads "$2" --shape "$shape" --variant both "${gemm[@]}" --json "$out/libtorch-t$2-r$1.json"
}
run_ours() { # round threads
  echo "== round $1, threads $2: cudnnrnn, full lengths"
  ours --threads "$2" --shape "$shape" --lengths full --json "$out/ours-full-t$2-r$1.json"
  echo "== round $1, threads $2: cudnnrnn, varied lengths"
  ours --threads "$2" --shape "$shape" --lengths varied --json "$out/ours-varied-t$2-r$1.json"
}
for ((r = 1; r <= rounds; r++)); do
  for t in $threads; do
    if (( r % 2 == 1 )); then run_libtorch "$r" "$t"; run_ours "$r" "$t"; else run_ours "$r" "$t"; run_libtorch "$r" "$t"; fi
  done
done
for t in $threads; do
  echo "== threads $t: cudnnrnn GEMM"
  ours --gemm --threads "$t" --shape "$shape" --libtorch-json "$out/libtorch-t$t-r1.json" --json "$out/ours-gemm-t$t.json"
done

python3 - "$out" "$rounds" $threads <<'PY'
import json, sys, os
import statistics
out, rounds, threads = sys.argv[1], int(sys.argv[2]), [int(t) for t in sys.argv[3:]]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p))["results"] if os.path.exists(p) else []
lines = []
def emit(s=""):
    print(s); lines.append(s)
def g(rs, **kw):
    for r in rs:
        if all(r.get(k) == v for k, v in kw.items()): return r
    return None
def ratio(a, b): return f"{a['gflops'] / b['gflops']:.2f}" if a and b else "-"

emit(f"## RNN: ours ÷ libtorch, median time (< 1 = ours faster); libtorch 'packed' is what variable-length input gets")
emit("")
emit(f"{rounds} round(s). Times: median over rounds of each round's median. Ratios: each round's ours ÷ libtorch, then the median over")
emit("rounds, with the lowest and highest round in brackets.")
emit("")
emit("| threads | shape | phase | libtorch dense ms | libtorch packed ms | ours full ms | ours varied ms | full ÷ dense | full ÷ packed | varied ÷ packed | ours full GF/s | ours reserve MiB (min) |")
emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
over = []   # target misses: full ÷ dense > 1.0 or varied ÷ packed > 0.5 (median over rounds)
def rounds_of(name, t, **kw):
    return [g(load(f"{name}-t{t}-r{r}.json"), **kw) for r in range(1, rounds + 1)]
def med_ms(rs):
    v = [r["medianMs"] for r in rs if r]
    return statistics.median(v) if v else None
def ratio_cell(a, b):
    v = [x["medianMs"] / y["medianMs"] for x, y in zip(a, b) if x and y]
    if not v: return None, "-"
    m = statistics.median(v)
    return m, (f"{m:.2f}" if len(v) == 1 else f"{m:.2f} [{min(v):.2f}–{max(v):.2f}]")
for t in threads:
    shapes = sorted({r["shape"] for r in load(f"ours-full-t{t}-r1.json")})
    for s in shapes:
        for ph in ("forward_inference", "forward_backward"):
            d = rounds_of("libtorch", t, kind="rnn", shape=s, variant="dense", phase=ph)
            p = rounds_of("libtorch", t, kind="rnn", shape=s, variant="packed", phase=ph)
            f = rounds_of("ours-full", t, shape=s, phase=ph); v = rounds_of("ours-varied", t, shape=s, phase=ph)
            ms = lambda rs: f"{med_ms(rs):.2f}" if med_ms(rs) is not None else "-"
            fd, fd_s = ratio_cell(f, d); _, fp_s = ratio_cell(f, p); vp, vp_s = ratio_cell(v, p)
            if fd is not None and fd > 1.0: over.append(f"threads {t}, shape {s}, {ph}: full ÷ dense {fd:.2f}")
            if vp is not None and vp > 0.5: over.append(f"threads {t}, shape {s}, {ph}: varied ÷ packed {vp:.2f}")
            f1 = next((r for r in f if r), None)
            gf = statistics.median([r["gflops"] for r in f if r]) if f1 else float("nan")
            mem = f"{f1['reserveBytes'] / 2**20:.1f} ({f1['reserveMinimumBytes'] / 2**20:.1f})" if f1 and f1.get("reserveBytes") else ""
            emit(f"| {t} | {s} | {ph} | {ms(d)} | {ms(p)} | {ms(f)} | {ms(v)} | {fd_s} | {fp_s} | {vp_s} | {gf:.1f} | {mem} |")
emit("")
emit("Target (issue 3): full ÷ dense ≤ 1.0 and varied ÷ packed ≤ 0.5 everywhere. " +
     ("Met (medians over rounds)." if not over else "Missed: " + "; ".join(over) + "."))
peaks = [r.get("peakWorkingSetBytes", 0) for t in threads for r0 in range(1, rounds + 1)
         for n in (f"ours-full-t{t}-r{r0}.json", f"ours-varied-t{t}-r{r0}.json") for r in load(n)]
if peaks: emit(f"\nPeak working set of our bench process: {max(peaks) / 2**20:.0f} MiB")
emit("")
emit("## sgemm: ours as % of libtorch torch.mm (libtorch-bench's shapes, row-major NN)")
emit("")
emit("| threads | MxKxN | libtorch GF/s | ours GF/s | ReferenceGemm GF/s | ours % of libtorch |")
emit("|---|---|---|---|---|---|")
for t in threads:
    lt, og = load(f"libtorch-t{t}-r1.json"), load(f"ours-gemm-t{t}.json")
    for r in [r for r in lt if r["kind"] == "sgemm"]:
        o = g(og, shape=r["shape"], phase="NN", impl="ours")
        ref = g(og, shape=r["shape"], phase="NN", impl="reference")
        if o:
            emit(f"| {t} | {r['shape']} | {r['gflops']:.1f} | {o['gflops']:.1f} | {ref['gflops'] if ref else float('nan'):.1f} | {100 * o['gflops'] / r['gflops']:.0f} % |")
emit("")
emit("## GEMMs the RNN engine issues (ours; per-step rows also with the recurrent weights pre-packed)")
emit("")
emit("| threads | op | MxKxN | ours GF/s | B pre-packed GF/s | ReferenceGemm GF/s |")
emit("|---|---|---|---|---|---|")
for t in threads:
    og = load(f"ours-gemm-t{t}.json")
    for o in [r for r in og if r["impl"] == "ours"]:
        pk = g(og, shape=o["shape"], phase=o["phase"], impl="ours-packedB")
        ref = g(og, shape=o["shape"], phase=o["phase"], impl="reference")
        fmt = lambda r: f"{r['gflops']:.1f}" if r else "-"
        emit(f"| {t} | {o['phase']} | {o['shape']} | {fmt(o)} | {fmt(pk)} | {fmt(ref)} |")
open(os.path.join(out, "results.md"), "w").write("\n".join(lines) + "\n")
print(f"\nwrote {out}/results.md")
PY
