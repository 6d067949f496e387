#!/usr/bin/env bash
# Side-by-side CPU benchmark: libtorch (../shared/tools/libtorch-bench) and `cudnnrnn bench`, interleaved per thread
# count so both see the same machine load, both writing JSON; then ratio tables.
#
#   bench/compare.sh                       # shapes a-e, threads 2 then 1, float32
#   bench/compare.sh --shape a,d --threads "1" --out /tmp/cmp
#
# Tables: median time ratios ours-full ÷ libtorch-dense and ÷ libtorch-packed, ours-varied ÷ libtorch-packed
# (< 1 = ours faster), and our sgemm as % of torch.mm on libtorch-bench's sgemm shapes. JSON files and results.md land in
# --out (default artifacts/bench/<timestamp>). Two-thread figures on shared machines vary by up to ±30 %: compare
# numbers from one run.
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
out="$root/artifacts/bench/$(date -u +%Y%m%dT%H%M%SZ)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shape) shape="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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

for t in $threads; do
  echo "== threads $t: libtorch"
  "$libtorch" --threads "$t" --shape "$shape" --variant both --json "$out/libtorch-t$t.json"
  echo "== threads $t: cudnnrnn, full lengths"
  ours --threads "$t" --shape "$shape" --lengths full --json "$out/ours-full-t$t.json"
  echo "== threads $t: cudnnrnn, varied lengths"
  ours --threads "$t" --shape "$shape" --lengths varied --json "$out/ours-varied-t$t.json"
  echo "== threads $t: cudnnrnn GEMM"
  ours --gemm --threads "$t" --shape "$shape" --libtorch-json "$out/libtorch-t$t.json" --json "$out/ours-gemm-t$t.json"
done

python3 - "$out" $threads <<'PY'
import json, sys, os
out, threads = sys.argv[1], [int(t) for t in sys.argv[2:]]
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

emit("## RNN: ours ÷ libtorch, median time (< 1 = ours faster); libtorch 'packed' is what variable-length input gets")
emit("")
emit("| threads | shape | phase | libtorch dense ms | libtorch packed ms | ours full ms | ours varied ms | full ÷ dense | full ÷ packed | varied ÷ packed | ours full GF/s | ours reserve MiB (min) |")
emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
def tr(a, b): return f"{a['medianMs'] / b['medianMs']:.2f}" if a and b else "-"
for t in threads:
    lt, of, ov = load(f"libtorch-t{t}.json"), load(f"ours-full-t{t}.json"), load(f"ours-varied-t{t}.json")
    for s in sorted({r["shape"] for r in of}):
        for ph in ("forward_inference", "forward_backward"):
            d = g(lt, kind="rnn", shape=s, variant="dense", phase=ph)
            p = g(lt, kind="rnn", shape=s, variant="packed", phase=ph)
            f = g(of, shape=s, phase=ph); v = g(ov, shape=s, phase=ph)
            ms = lambda r: f"{r['medianMs']:.2f}" if r else "-"
            mem = f"{f['reserveBytes'] / 2**20:.1f} ({f['reserveMinimumBytes'] / 2**20:.1f})" if f and f.get("reserveBytes") else ""
            emit(f"| {t} | {s} | {ph} | {ms(d)} | {ms(p)} | {ms(f)} | {ms(v)} | {tr(f, d)} | {tr(f, p)} | {tr(v, p)} | {f['gflops']:.1f} | {mem} |" if f else f"| {t} | {s} | {ph} | - |")
peaks = [r.get("peakWorkingSetBytes", 0) for t in threads for n in (f"ours-full-t{t}.json", f"ours-varied-t{t}.json") for r in load(n)]
if peaks: emit(f"\nPeak working set of our bench process: {max(peaks) / 2**20:.0f} MiB")
emit("")
emit("## sgemm: ours as % of libtorch torch.mm (libtorch-bench's shapes, row-major NN)")
emit("")
emit("| threads | MxKxN | libtorch GF/s | ours GF/s | ReferenceGemm GF/s | ours % of libtorch |")
emit("|---|---|---|---|---|---|")
for t in threads:
    lt, og = load(f"libtorch-t{t}.json"), load(f"ours-gemm-t{t}.json")
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
