#!/usr/bin/env bash
# Makes the NuGet packages (CudnnRnn, CudnnRnn.Interop, CudnnRnn.Cuda, CudnnRnn.OpenCL, CudnnRnn.Training, and the
# CudnnRnn.Tool .NET tool) into artifacts/packages, then proves the tool installs from that folder and runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=artifacts/packages
rm -rf "$out"
dotnet pack CudnnRnn.sln -c Release -o "$out" -nologo -v quiet
ls -1 "$out"
tools=$(mktemp -d)
dotnet tool install CudnnRnn.Tool --tool-path "$tools" --add-source "$out" --version "$(ls $out/CudnnRnn.Tool.*.nupkg | grep -v snupkg | sed -E 's/.*CudnnRnn\.Tool\.(.*)\.nupkg/\1/')" >/dev/null
"$tools/cudnnrnn" info
echo "Installed the tool from $out: dotnet tool install CudnnRnn.Tool --add-source $out (-g or --tool-path DIR), then run 'cudnnrnn'."
rm -rf "$tools"
