#!/usr/bin/env bash
# CudnnRnn build script. Verbs:
#   ./build.sh test       build everything and run every test (installs PoCL + the OpenCL ICD loader, and Open MPI, where missing)
#   ./build.sh demo [...] the main job: train a BiLSTM tagger on the CPU engine (synthetic task, or --data DIR for a UD treebank)
#   ./build.sh bench      our CPU engine and libtorch side by side, ratio table (needs ../shared/tools/libtorch-bench)
#   ./build.sh gpu-test   everything GPU-related, on a machine with an NVIDIA GPU, the CUDA 12 or 13 runtime and cuDNN 9
#   ./build.sh verify     run ../shared/golden on the CPU engine (extra args go to `cudnnrnn verify`)
#   ./build.sh build      build only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

verb="${1:-test}"
[ $# -gt 0 ] && shift

log() { printf '==> %s\n' "$*" >&2; }

need_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET 10 SDK is required (https://dot.net); 'dotnet' is not on PATH." >&2
    exit 2
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

# OpenCL: the ICD loader and PoCL's CPU device, so the OpenCL engine's tests run for real instead of skipping.
ensure_opencl() {
  local missing=()
  for p in ocl-icd-libopencl1 ocl-icd-opencl-dev pocl-opencl-icd; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: install an OpenCL ICD loader and a platform (e.g. PoCL) yourself, or the OpenCL tests will be skipped"
    return 0
  fi
  log "installing ${missing[*]} (OpenCL on PoCL's CPU device)"
  if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    log "could not install ${missing[*]}: the OpenCL tests will report as skipped with the reason"
  fi
}

# MPI: Open MPI's launcher and library, so the data-parallel tests (mpirun -np 2) run for real instead of skipping.
ensure_mpi() {
  local missing=()
  for p in openmpi-bin libopenmpi-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: install Open MPI (mpirun, libmpi.so.40) yourself, or the distributed tests will be skipped"
    return 0
  fi
  log "installing ${missing[*]} (Open MPI, for the data-parallel tests)"
  if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    log "could not install ${missing[*]}: the distributed tests will report as skipped with the reason"
  fi
}

cli() { dotnet run --project src/CudnnRnn.Cli -c Release --no-launch-profile -- "$@"; }

run_tests() {
  local results; results="$(mktemp -d)"
  local status=0
  # One summary line per test assembly ("Passed!  - Failed: 0, Passed: N, Skipped: K, Total: T"), added up below.
  dotnet test CudnnRnn.sln -c Release --logger "trx" --results-directory "$results" "$@" 2>&1 | tee "$results/console.log" || status=$?
  local passed failed skipped
  passed=$(grep -Eo 'Passed: +[0-9]+,' "$results/console.log" | awk '{s+=$2} END {print s+0}')
  failed=$(grep -Eo 'Failed: +[0-9]+,' "$results/console.log" | awk '{s+=$2} END {print s+0}')
  skipped=$(grep -Eo 'Skipped: +[0-9]+,' "$results/console.log" | awk '{s+=$2} END {print s+0}')
  if [ "${skipped:-0}" != 0 ] && command -v python3 >/dev/null 2>&1; then
    echo "Skipped tests and why:"
    python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET, collections
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
reasons = collections.Counter()
for f in glob.glob(sys.argv[1] + "/*.trx"):
    root = ET.parse(f).getroot()
    for r in root.iter("{%s}UnitTestResult" % ns["t"]):
        if r.get("outcome") == "NotExecuted":
            msg = r.find(".//t:Message", ns)
            test = r.get("testName").split("(")[0].rsplit(".", 1)[0]
            reasons[(test, (msg.text or "").strip() if msg is not None else "")] += 1
full = {}
for (test, why), n in sorted(reasons.items()):
    lines = why.splitlines() or [""]
    print(f"  {n:4d} x {test}: {lines[0]}" + (f" [see below]" if len(lines) > 1 else ""))
    if len(lines) > 1: full[why] = 1
for why in full:
    print("  ---\n  " + "\n  ".join(why.splitlines()))
PY
  fi
  rm -rf "$results"
  echo "Tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
  return $status
}

case "$verb" in
  build)
    need_dotnet
    dotnet build CudnnRnn.sln -c Release ;;
  test)
    need_dotnet
    ensure_opencl
    ensure_mpi
    dotnet build CudnnRnn.sln -c Release -v quiet -nologo
    run_tests --no-build "$@" ;;
  demo)
    need_dotnet
    cli demo "$@" ;;
  verify)
    need_dotnet
    cli verify ../shared/golden "$@" ;;
  bench)
    need_dotnet
    exec bash bench/compare.sh "$@" ;;
  gpu-test)
    need_dotnet
    dotnet build CudnnRnn.sln -c Release -v quiet -nologo
    cli info
    # Every GPU test; without a usable GPU they are reported as skipped with the reason, never as passed.
    run_tests --no-build --filter "FullyQualifiedName~CudnnRnn.Cuda.Tests" "$@"
    cli checksums --engine cuda
    cli verify ../shared/golden --engine cuda --dtype float64 --layout all
    cli verify ../shared/golden --engine cuda --dtype float32 --layout all ;;
  pack)
    need_dotnet
    exec bash scripts/pack.sh "$@" ;;
  *)
    echo "usage: ./build.sh [test|demo|bench|gpu-test|verify|build|pack] [args...]" >&2
    exit 2 ;;
esac
