#!/usr/bin/env bash
# Builds the GPU bundle: everything `scripts/gpu-run.sh` needs on a GPU machine that has the NVIDIA libraries but no
# .NET SDK — the .NET runtime this SDK runs on (one copy), the CLI and the three GPU test assemblies published
# framework-dependent (run with that runtime), the golden vectors, the PyTorch benchmark script and gpu-run.sh itself.
#
#   bash scripts/gpu-bundle.sh [DIR]            # DIR (default gpu-bundle/) plus DIR.tar.xz next to it
#   bash scripts/gpu-bundle.sh --no-archive [DIR]   # the folder only (./build.sh gpu-test runs it in place)
#
# Identical files of the published folders become hard links (tar stores them once), so the archive holds the runtime
# and each dependency once; it must stay under the 64 MiB a remote run can carry (checked below).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

archive=1
if [ "${1:-}" = "--no-archive" ]; then archive=0; shift; fi
dest="${1:-gpu-bundle}"
dest="${dest%/}"
shared="${CUDNNRNN_SHARED:-../shared}"
log() { echo "[gpu-bundle] $*" >&2; }

command -v dotnet >/dev/null 2>&1 || { echo "error: building the bundle needs the .NET 10 SDK ('dotnet' on PATH)" >&2; exit 2; }
[ -d "$shared/golden" ] || { echo "error: $shared/golden not found (clone shared/ beside the repository or set CUDNNRNN_SHARED)" >&2; exit 2; }

# Only a folder this script made (it holds BUNDLE) is replaced; anything else is refused, never deleted.
if [ -e "$dest" ] && [ ! -f "$dest/BUNDLE" ]; then
  echo "error: $dest exists and is not a GPU bundle (no BUNDLE file in it); choose another folder" >&2
  exit 2
fi
rm -rf "$dest"
mkdir -p "$dest"

# The apps, framework-dependent and portable (no runtime identifier: the normal build's restore stays as it is).
publish() {
  local project="$1" name="$2"
  log "publishing $project"
  dotnet publish "$project" -c Release --no-self-contained -o "$dest/$name" -v quiet -nologo -p:GenerateDocumentationFile=false
  # What a linux-x64 run never loads: code-coverage collectors, other platforms' native libraries, XML docs.
  rm -rf "$dest/$name/CodeCoverage" "$dest/$name/InstrumentationEngine" "$dest/$name"/{x86,arm64,macos,alpine,ubuntu}
  find "$dest/$name/runtimes" -mindepth 1 -maxdepth 1 -type d ! -name linux-x64 ! -name unix ! -name linux -exec rm -rf {} + 2>/dev/null || true
  find "$dest/$name" -name '*.xml' -delete
}
publish src/CudnnRnn.Cli cli
publish tests/CudnnRnn.Cuda.Tests CudnnRnn.Cuda.Tests
publish tests/CudnnRnn.Distributed.Tests CudnnRnn.Distributed.Tests
publish tests/CudnnRnn.OpenCL.Tests CudnnRnn.OpenCL.Tests

# One .NET runtime: the muxer, hostfxr and Microsoft.NETCore.App of the version the apps were built against.
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
runtime="$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" && $2 ~ /^10\./ {v = $2} END {print v}')"
[ -n "$runtime" ] || { echo "error: no Microsoft.NETCore.App 10.x runtime in $dotnet_root" >&2; exit 2; }
log "runtime Microsoft.NETCore.App $runtime from $dotnet_root"
mkdir -p "$dest/dotnet/shared/Microsoft.NETCore.App" "$dest/dotnet/host"
cp "$dotnet_root/dotnet" "$dest/dotnet/"
cp -r "$dotnet_root/host/fxr" "$dest/dotnet/host/"
cp -r "$dotnet_root/shared/Microsoft.NETCore.App/$runtime" "$dest/dotnet/shared/Microsoft.NETCore.App/"

# Data and scripts.
mkdir -p "$dest/shared" "$dest/bench/gpu"
cp -r "$shared/golden" "$shared/cudnn" "$dest/shared/"
# UD English EWT (CC BY-SA 4.0, its LICENSE.txt travels with it) for the one-minute tagger runs on the GPU.
if [ -f "$shared/data/ud-english-ewt/en_ewt-ud-train.conllu" ]; then
  mkdir -p "$dest/shared/data/ud-english-ewt"
  cp "$shared/data/ud-english-ewt"/{en_ewt-ud-train.conllu,en_ewt-ud-dev.conllu,LICENSE.txt} "$dest/shared/data/ud-english-ewt/"
fi
cp bench/gpu/torch_cudnn_bench.py "$dest/bench/gpu/"
cp scripts/gpu-run.sh "$dest/"
cp -r native/cudnn-probe "$dest/cudnn-probe"
rm -f "$dest/cudnn-probe/probe.json"
{
  echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "runtime Microsoft.NETCore.App $runtime"
} > "$dest/BUNDLE"

# Identical files -> hard links, so that the archive stores each once.
python3 - "$dest" <<'PY'
import hashlib, os, sys
seen, saved = {}, 0
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        p = os.path.join(root, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        st = os.stat(p)
        h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        key = (h, st.st_size, st.st_mode & 0o111 != 0)
        if key in seen and not os.path.samefile(seen[key], p):
            os.remove(p); os.link(seen[key], p); saved += st.st_size
        else:
            seen.setdefault(key, p)
print(f"[gpu-bundle] {saved / 2**20:.1f} MiB of duplicate files hard-linked", file=sys.stderr)
PY
log "folder $dest: $(du -sh "$dest" | cut -f1) on disk (hard links counted once)"

if [ "$archive" = 1 ]; then
  tar -C "$(dirname "$dest")" -cf - "$(basename "$dest")" | xz -T0 -6 > "$dest.tar.xz"
  size=$(stat -c %s "$dest.tar.xz")
  log "archive $dest.tar.xz: $((size / 1048576)) MiB"
  if [ "$size" -ge $((60 * 1048576)) ]; then
    echo "error: $dest.tar.xz is $((size / 1048576)) MiB; a remote run carries at most 64 MiB with the working tree" >&2
    exit 1
  fi
  echo "on the GPU machine: tar xJf $(basename "$dest").tar.xz && bash $(basename "$dest")/gpu-run.sh   (results in \$OUT or $(basename "$dest")/out)"
fi
