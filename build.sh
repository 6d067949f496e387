#!/usr/bin/env bash
# CudnnRnn build script. Verbs:
#   ./build.sh test       build everything and run every test (installs PoCL + the OpenCL ICD loader, and Open MPI, where missing)
#   ./build.sh demo [...] the main job: train a BiLSTM tagger on the CPU engine (synthetic task, or --data DIR for a UD treebank)
#   ./build.sh bench      our CPU engine and libtorch side by side, ratio table (needs ../shared/tools/libtorch-bench)
#   ./build.sh gpu-test [OUT]  everything GPU-related, on a machine with an NVIDIA GPU, the CUDA 12 or 13 runtime and
#                         cuDNN 9, through the GPU bundle (scripts/gpu-run.sh; first records cuDNN's reference numbers into
#                         OUT/recordings/cudnn-<version>-<gpu>/, to copy into tests/recordings/)
#   ./build.sh gpu-bundle gpu-bundle.tar.xz: the runtime, the apps and the data gpu-run.sh needs, for a GPU machine without .NET
#   ./build.sh record-cudnn [DIR]  record cuDNN's reference numbers (default DIR tests/recordings/cudnn-<version>-<gpu>/)
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

# Installs the Debian packages named after $2 where missing, so the tests that need them run for real instead of
# skipping; $1 says what they are for. Without apt-get, or when the install fails, it says so and the tests skip with
# their reason.
ensure_debs() {
  local what="$1"; shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: install ${missing[*]} ($what) yourself, or those tests will be skipped"
    return 0
  fi
  log "installing ${missing[*]} ($what)"
  if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    log "could not install ${missing[*]}: the tests that need $what will report as skipped with the reason"
  fi
}

# OpenCL: the ICD loader and PoCL's CPU device, so the OpenCL engine's tests run on PoCL.
ensure_opencl() { ensure_debs "OpenCL on PoCL's CPU device" ocl-icd-libopencl1 ocl-icd-opencl-dev pocl-opencl-icd; }

# MPI: Open MPI's launcher and library, so the data-parallel tests (mpirun -np 2) run.
ensure_mpi() { ensure_debs "Open MPI, for the data-parallel tests" openmpi-bin libopenmpi-dev; }

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
  # Failed tests by name with the first line of their message, so a failure in a long log is found at the end.
  if [ "${failed:-0}" != 0 ] || [ "$status" != 0 ]; then
    if command -v python3 >/dev/null 2>&1; then
      python3 - "$results" "$status" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
failed = []
for f in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for r in ET.parse(f).getroot().iter("{%s}UnitTestResult" % ns["t"]):
        if r.get("outcome") == "Failed":
            msg = r.find(".//t:ErrorInfo/t:Message", ns)
            first = ((msg.text or "") if msg is not None else "").strip().splitlines()
            failed.append((r.get("testName"), first[0] if first else ""))
if failed:
    print("Failed tests:")
    for name, why in sorted(failed):
        print(f"  {name}: {why[:300]}")
elif sys.argv[2] != "0":
    print(f"No test failed in the results, but dotnet test exited with {sys.argv[2]}: a test host crashed or the run was aborted (see 'Test Run Aborted' above).")
PY
    else
      grep -E '^\s+Failed [A-Za-z]' "$results/console.log" | sed 's/^ */  /' || true
    fi
  fi
  rm -rf "$results"
  echo "Tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
  return $status
}

# Runs the cuDNN recorder (tests/CudnnRnn.Cuda.Tests, CudnnRecorderTests.Record_cuDNN_reference) into $1, or into
# tests/recordings/cudnn-<cuDNN version>-<gpu>/ when $1 is empty. Returns 3 when nothing was recorded (no usable GPU: the
# skip reason is printed above), else the test's status (it fails when cuDNN refused a configuration or did not run the
# persistent algorithm where expected; the files are written either way).
record_cudnn() {
  local report; report="$(mktemp)"
  local status=0
  local -a where
  if [ -n "${1:-}" ]; then where=(CUDNNRNN_RECORD_DIR="$(realpath -m "$1")"); else where=(CUDNNRNN_RECORD_ROOT="$PWD/tests/recordings"); fi
  env "${where[@]}" CUDNNRNN_RECORD_REPORT="$report" dotnet test tests/CudnnRnn.Cuda.Tests -c Release --no-build \
    --filter "FullyQualifiedName~CudnnRecorderTests.Record_cuDNN_reference" --logger "console;verbosity=detailed" || status=$?
  local folder; folder="$(cat "$report")"; rm -f "$report"
  if [ -z "$folder" ]; then
    log "no cuDNN recording was made (no usable GPU or cuDNN: the skip reason is above)"
    return 3
  fi
  log "cuDNN recording: $folder ($(du -sh "$folder" | cut -f1)); the CPU and OpenCL tests replay every folder in tests/recordings: commit it"
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
    # The same path as on a GPU machine without the SDK: build the bundle (runtime + published apps + golden), run
    # scripts/gpu-run.sh from it. Results go to $1, else $OUT, else gpu-bundle/out (see the header of gpu-run.sh).
    need_dotnet
    bash scripts/gpu-bundle.sh --no-archive gpu-bundle
    exec bash gpu-bundle/gpu-run.sh "$@" ;;
  gpu-bundle)
    # gpu-bundle.tar.xz for a GPU machine without .NET: tar xJf gpu-bundle.tar.xz && bash gpu-bundle/gpu-run.sh
    need_dotnet
    exec bash scripts/gpu-bundle.sh gpu-bundle ;;
  record-cudnn)
    need_dotnet
    dotnet build CudnnRnn.sln -c Release -v quiet -nologo
    record_cudnn "${1:-}" ;;
  pack)
    need_dotnet
    exec bash scripts/pack.sh "$@" ;;
  *)
    echo "usage: ./build.sh [test|demo|bench|gpu-test [OUT]|gpu-bundle|record-cudnn [DIR]|verify|build|pack] [args...]" >&2
    exit 2 ;;
esac
