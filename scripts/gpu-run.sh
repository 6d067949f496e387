#!/usr/bin/env bash
# Every GPU check, in order of value, from a bundle made by scripts/gpu-bundle.sh (`./build.sh gpu-test` makes one and
# runs this in place). Needs no .NET SDK: the bundle carries its runtime. Needs the NVIDIA libraries: libcudart (12 or
# 13), libcudnn.so.9, optionally libnccl.so.2 — from the system loader path or from pip wheels (nvidia-*-cu12/cu13; their
# lib folders are found through python3 and put on LD_LIBRARY_PATH).
#
#   bash gpu-bundle/gpu-run.sh [DIR]     # results and logs in DIR (default gpu-bundle/out)
#
# Where $OUT names a folder (a remote runner's result folder that returns only a few files), the results also go there
# after every step as three files: summary.txt, recording.tgz (the cuDNN recording alone, so nothing else can crowd it
# out) and gpu-results.tgz (every log, trx and JSON; no tagger model files), so that what was done survives a run cut
# off at its time limit.
#
# Steps (each with a time limit; a step that cannot finish within what is left of GPU_RUN_BUDGET seconds, default 360, is
# skipped and says so; 360 s leaves a rerun inside a 15-minute device lease):
#   1. the cuDNN recording the CPU/OpenCL tests replay (issue 18)  -> OUT/recordings/cudnn-<version>-<gpu>/: copy that
#      folder into tests/recordings/ and commit it
#   2. cudnn-probe (enum values from the installed headers) where a C compiler and the headers exist
#   3. CudnnRnn.Cuda.Tests: conformance (float32/64, fp16/bf16), interop, device-resident, lifetime, lengths per call
#   4. verify ../shared/golden on cuDNN in float64, float32, float16, bfloat16; NVIDIA's sample checksums
#   5. example interop --engine cuda (memory and stream "of another library", zero copy)
#   6. NCCL tests (one rank: device-buffer all-reduce/broadcast, async error, abort)
#   7. benchmarks: ours on cuDNN (float32, float16, bfloat16), then PyTorch on the same GPU when torch is importable
#   8. the tagger on cuDNN for one minute each in fp32 and fp16 (UD English EWT): dev UPOS and tokens/s
#   9. CudnnRnn.OpenCL.Tests on NVIDIA's OpenCL, when an NVIDIA OpenCL platform exists
# OUT/summary.txt lists every step with its status; the exit status is 0 only when every step that ran passed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export PYTHONUNBUFFERED=1
budget="${GPU_RUN_BUDGET:-360}"
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "GPU_RUN_BUDGET must be a number of seconds, not '$budget'" >&2; exit 2; }
start=$SECONDS
summary="$out/summary.txt"
: > "$summary"
failures=()

log() { echo "[gpu-run +$((SECONDS - start))s] $*" | tee -a "$summary"; }

# Copies the results into $OUT as two files (see the header); a no-op without $OUT or when $OUT is the results folder.
publish() {
  [ -n "${OUT:-}" ] && [ -d "$OUT" ] || return 0
  [ "$(cd "$OUT" && pwd)" = "$out" ] && return 0
  # Exclude patterns are anchored to the top ('./'): a bare '*.safetensors' would match the recording's tensor files
  # in any folder too.
  if [ -d "$out/recordings" ]; then
    tar -C "$out" -czf "$OUT/recording.tgz.part" recordings 2>/dev/null && mv -f "$OUT/recording.tgz.part" "$OUT/recording.tgz"
  fi
  tar -C "$out" -czf "$OUT/gpu-results.tgz.part" --exclude='./recordings' --exclude='./tagger-*.safetensors' \
      --exclude='./cudnn_probe' . 2>/dev/null && mv -f "$OUT/gpu-results.tgz.part" "$OUT/gpu-results.tgz"
  rm -f "$OUT"/*.part
  cp -f "$summary" "$OUT/summary.txt"
}

if [ -x "$here/dotnet/dotnet" ]; then
  export DOTNET_ROOT="$here/dotnet"
  DOTNET="$here/dotnet/dotnet"
else
  DOTNET="$(command -v dotnet || true)"
fi
[ -n "$DOTNET" ] || { log "no .NET runtime: neither $here/dotnet nor dotnet on PATH"; exit 2; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Without libicu (a slim CUDA image) the runtime would refuse to start; nothing here needs culture data.
if ! ldconfig -p 2>/dev/null | grep -q libicuuc; then export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1; fi
export CUDNNRNN_SHARED="${CUDNNRNN_SHARED:-$here/shared}" CUDNNRNN_BUNDLE=1

# NVIDIA libraries shipped as pip wheels (nvidia/cudnn/lib, nvidia/cuda_runtime/lib, nvidia/nccl/lib, ...).
if command -v python3 >/dev/null 2>&1; then
  wheel_libs="$(python3 - <<'PY' 2>/dev/null
import glob, importlib.util, os, site, sys
roots = set(getattr(site, "getsitepackages", lambda: [])() + [p for p in sys.path if p.endswith("-packages")])
try:
    roots.add(site.getusersitepackages())
except Exception:
    pass
spec = importlib.util.find_spec("nvidia")   # wherever the nvidia-* wheels' namespace package lives
if spec is not None and spec.submodule_search_locations:
    roots.update(os.path.dirname(p) for p in spec.submodule_search_locations)
dirs = sorted({d for r in roots for d in glob.glob(os.path.join(r, "nvidia", "*", "lib")) if os.path.isdir(d)})
print(":".join(dirs))
PY
)"
  if [ -n "$wheel_libs" ]; then export LD_LIBRARY_PATH="$wheel_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
fi

# step NAME SECONDS COMMAND...: runs COMMAND with its output in OUT/NAME.log (the last lines echoed), unless fewer than
# SECONDS are left of the budget; records the status.
step() {
  local name="$1" limit="$2"; shift 2
  local left=$((budget - (SECONDS - start)))
  if [ "$left" -lt "$limit" ]; then
    log "SKIPPED $name: needs up to ${limit}s, ${left}s left of GPU_RUN_BUDGET=${budget}s"
    return 0
  fi
  log "start $name"
  timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$out/$name.log"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then log "TIMEOUT $name after ${limit}s"; failures+=("$name (timeout)");
  elif [ "$rc" != 0 ]; then log "FAILED $name: status $rc"; failures+=("$name ($rc)");
  else log "ok $name"; fi
  publish
  return 0
}
# trx_summary FILE: passed/failed/skipped counts of a test run, failed tests with their first message line, and skip
# reasons grouped, into the summary.
trx_summary() {
  [ -f "$1" ] || return 0
  python3 - "$1" <<'PY' 2>&1 | tee -a "$summary"
import collections, sys, xml.etree.ElementTree as ET
ns = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
results = list(ET.parse(sys.argv[1]).getroot().iter(ns + "UnitTestResult"))
count = collections.Counter(r.get("outcome") for r in results)
print(f"    {sys.argv[1].rsplit('/', 1)[-1]}: {count['Passed']} passed, {count['Failed']} failed, {count['NotExecuted']} skipped")
skips = collections.Counter()
for r in results:
    m = r.find(f".//{ns}Message")
    if m is None or not (m.text or "").strip():
        m = r.find(f".//{ns}StdOut")   # xUnit v3's own trx writer puts a skip reason there
    first = ((m.text or "") if m is not None else "").strip().splitlines()
    if r.get("outcome") == "Failed":
        print(f"      FAILED {r.get('testName')}: {(first[0] if first else '')[:300]}")
    elif r.get("outcome") == "NotExecuted":
        skips[(r.get("testName").split("(")[0].rsplit(".", 1)[0], first[0][:160] if first else "")] += 1
for (cls, why), n in sorted(skips.items()):
    print(f"      skipped {n} x {cls}: {why}")
PY
}

# Commands as arrays (timeout runs programs, not shell functions).
cli=("$DOTNET" "$here/cli/CudnnRnn.Cli.dll")
cuda_tests=("$DOTNET" "$here/CudnnRnn.Cuda.Tests/CudnnRnn.Cuda.Tests.dll" -noColor -noLogo)
dist_tests=("$DOTNET" "$here/CudnnRnn.Distributed.Tests/CudnnRnn.Distributed.Tests.dll" -noColor -noLogo)
opencl_tests=("$DOTNET" "$here/CudnnRnn.OpenCL.Tests/CudnnRnn.OpenCL.Tests.dll" -noColor -noLogo)

log "bundle: $( { tr '\n' ';' < "$here/BUNDLE"; } 2>/dev/null)"
log "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi > "$out/nvidia-smi.txt" 2>&1
step info 60 "${cli[@]}" info

# 1. The recording first, so that it exists even if a later step fails or the budget runs out.
rm -f "$out/record-report.txt"
step record 150 env -u CUDNNRNN_RECORD_DIR CUDNNRNN_RECORD_ROOT="$out/recordings" CUDNNRNN_RECORD_REPORT="$out/record-report.txt" \
  "${cuda_tests[@]}" -reporter verbose -method "CudnnRnn.Cuda.Tests.CudnnRecorderTests.Record_cuDNN_reference"
if [ -s "$out/record-report.txt" ]; then log "recording: $(cat "$out/record-report.txt")"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  # A GPU is there but the recorder skipped (no cuDNN or CUDA runtime found, a version mismatch): that is a failure.
  log "FAILED record: a GPU is present but no recording was made (see record.log and info.log)"; failures+=("record (none made)")
else log "no recording made (no GPU: see record.log)"; fi

# 2. The enum values of the installed headers (header-only C; optional).
probe_cc="$(command -v cc || command -v gcc || command -v clang || true)"
if [ -n "$probe_cc" ] && command -v python3 >/dev/null 2>&1; then
  mapfile -t incs < <(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = set(getattr(site, "getsitepackages", lambda: [])() + [p for p in sys.path if p.endswith("-packages")])
for r in sorted(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "include"))):
        print("-I" + d)
PY
)
  if "$probe_cc" -O0 -o "$out/cudnn_probe" "${incs[@]}" -I/usr/local/cuda/include "$here/cudnn-probe/cudnn_probe.c" > "$out/probe-build.log" 2>&1 \
     && "$out/cudnn_probe" > "$out/probe.json"; then
    export CUDNNRNN_PROBE_JSON="$out/probe.json"
    log "probe.json from the installed headers: $out/probe.json"
  else
    log "cudnn-probe not built (headers or compiler missing: see probe-build.log); ProbeJsonTests will skip"
  fi
fi

# 3. The GPU test assembly (every engine check of the cuDNN side).
step cuda-tests 240 "${cuda_tests[@]}" -trx "$out/cuda-tests.trx" -reporter quiet
trx_summary "$out/cuda-tests.trx"

# 4. Golden files on cuDNN in every data type, and NVIDIA's checksums. bf16 exits 2 with a "cannot compute in bfloat16"
#    reason when the loaded cuDNN or the GPU cannot (cuDNN < 9.13 or compute capability < 8.0): that is reported, not
#    counted as a failure.
step verify-float64 60 "${cli[@]}" verify "$CUDNNRNN_SHARED/golden" --engine cuda --dtype float64 --layout all
step verify-float32 60 "${cli[@]}" verify "$CUDNNRNN_SHARED/golden" --engine cuda --dtype float32 --layout all
step verify-float16 60 "${cli[@]}" verify "$CUDNNRNN_SHARED/golden" --engine cuda --dtype float16 --layout all
step verify-bfloat16 60 bash -c '"$@" > "$0" 2>&1; s=$?; cat "$0"; [ $s = 2 ] && grep -q "cannot compute in bfloat16" "$0" && { echo "(not a failure: bfloat16 is not supported by this cuDNN or GPU)"; exit 0; }; exit $s' \
  "$out/verify-bfloat16.inner.log" "${cli[@]}" verify "$CUDNNRNN_SHARED/golden" --engine cuda --dtype bfloat16 --layout all
step checksums 60 "${cli[@]}" checksums --engine cuda

# 5. Interop: "another library's" memory and stream through forward and backward.
step example-interop 60 "${cli[@]}" example interop --engine cuda

# 6. NCCL, one rank.
step nccl-tests 90 "${dist_tests[@]}" -class "CudnnRnn.Distributed.Tests.NcclTests" -trx "$out/nccl-tests.trx" -reporter verbose
trx_summary "$out/nccl-tests.trx"

# 7. Benchmarks: ours, then PyTorch on the same cuDNN and GPU.
mkdir -p "$out/bench"
for dt in float32 float16 bfloat16; do
  step "bench-ours-$dt" 90 "${cli[@]}" bench --engine cuda --dtype "$dt" --json "$out/bench/ours-cuda-$dt.json"
done
if command -v python3 >/dev/null 2>&1 && python3 -c "import torch" >/dev/null 2>&1; then
  for dt in float32 float16 bfloat16; do
    step "bench-torch-$dt" 120 python3 "$here/bench/gpu/torch_cudnn_bench.py" --dtype "$dt" --no-tf32 --reps 20 --warmup 0.5 \
      --json "$out/bench/torch-cuda-$dt.json"
  done
else
  log "SKIPPED the PyTorch benchmark: torch is not importable by python3"
fi

# 8. The tagger on cuDNN, one minute of training per precision (the model file and its plot go to OUT).
ewt="$CUDNNRNN_SHARED/data/ud-english-ewt"
if [ -f "$ewt/en_ewt-ud-train.conllu" ]; then
  for p in fp32 fp16; do
    step "tagger-$p" 150 "${cli[@]}" tagger train --engine cuda --precision "$p" --train "$ewt/en_ewt-ud-train.conllu" \
      --dev "$ewt/en_ewt-ud-dev.conllu" --time-limit 1 --epochs 40 --seed 1 --out "$out/tagger-$p.safetensors"
    grep -E "^best epoch" "$out/tagger-$p.log" | sed "s/^/    tagger $p: /" | tee -a "$summary"
  done
else
  log "SKIPPED the tagger runs: no UD English EWT in $ewt"
fi

# 9. The OpenCL engine on NVIDIA's OpenCL (only where an NVIDIA OpenCL platform is registered).
if ls /etc/OpenCL/vendors/*nvidia* >/dev/null 2>&1; then
  step opencl-tests 150 "${opencl_tests[@]}" -trx "$out/opencl-tests.trx" -reporter quiet
  trx_summary "$out/opencl-tests.trx"
else
  log "SKIPPED the OpenCL tests: no NVIDIA OpenCL platform in /etc/OpenCL/vendors"
fi

if [ ${#failures[@]} -gt 0 ]; then
  log "done in $((SECONDS - start))s; FAILED: ${failures[*]}"
  publish
  exit 1
fi
log "done in $((SECONDS - start))s; every step that ran passed (skips are listed above and in the logs)"
publish
