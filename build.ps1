# CudnnRnn build script for Windows (same verbs as build.sh).
#   .\build.ps1 test | demo | bench | gpu-test | verify | build | pack
param([Parameter(Position = 0)][string]$Verb = "test", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"
if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) { Write-Error "The .NET 10 SDK is required (https://dot.net)."; exit 2 }
function Cli { dotnet run --project src/CudnnRnn.Cli -c Release --no-launch-profile -- @args; if ($LASTEXITCODE) { exit $LASTEXITCODE } }
switch ($Verb) {
  "build"    { dotnet build CudnnRnn.sln -c Release; exit $LASTEXITCODE }
  "test"     {
    # OpenCL on Windows comes with the GPU driver (an ICD); without one the OpenCL tests report as skipped with the reason.
    dotnet build CudnnRnn.sln -c Release -v quiet -nologo; if ($LASTEXITCODE) { exit $LASTEXITCODE }
    dotnet test CudnnRnn.sln -c Release --no-build @Rest; exit $LASTEXITCODE }
  "demo"     { Cli demo @Rest }
  "verify"   { Cli verify ../shared/golden @Rest }
  "bench"    { Cli bench --shape all @Rest }
  "gpu-test" {
    dotnet build CudnnRnn.sln -c Release -v quiet -nologo; if ($LASTEXITCODE) { exit $LASTEXITCODE }
    Cli info
    dotnet test CudnnRnn.sln -c Release --no-build --filter "FullyQualifiedName~CudnnRnn.Cuda.Tests" @Rest; if ($LASTEXITCODE) { exit $LASTEXITCODE }
    Cli checksums --engine cuda
    Cli verify ../shared/golden --engine cuda --dtype float64 --layout all
    Cli verify ../shared/golden --engine cuda --dtype float32 --layout all }
  "pack"     { dotnet pack CudnnRnn.sln -c Release -o artifacts/packages; exit $LASTEXITCODE }
  default    { Write-Error "usage: .\build.ps1 [test|demo|bench|gpu-test|verify|build|pack]"; exit 2 }
}
