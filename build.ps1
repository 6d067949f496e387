# CudnnRnn build script for Windows (same verbs as build.sh).
#   .\build.ps1 test | demo | bench | gpu-test | record-cudnn [DIR] | verify | build | pack
param([Parameter(Position = 0)][string]$Verb = "test", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"
if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) { Write-Error "The .NET 10 SDK is required (https://dot.net)."; exit 2 }
function Cli { dotnet run --project src/CudnnRnn.Cli -c Release --no-launch-profile -- @args; if ($LASTEXITCODE) { exit $LASTEXITCODE } }
# The cuDNN recorder (see build.sh record_cudnn): into $Dir, or tests/recordings/cudnn-<version>-<gpu> when empty.
# Returns 3 when nothing was recorded (no usable GPU), else the test's exit code.
function RecordCudnn([string]$Dir) {
  $report = New-TemporaryFile
  if ($Dir) { $env:CUDNNRNN_RECORD_DIR = [IO.Path]::GetFullPath($Dir) } else { $env:CUDNNRNN_RECORD_ROOT = Join-Path $PSScriptRoot "tests/recordings" }
  $env:CUDNNRNN_RECORD_REPORT = $report.FullName
  dotnet test tests/CudnnRnn.Cuda.Tests -c Release --no-build --filter "FullyQualifiedName~CudnnRecorderTests.Record_cuDNN_reference" `
    --logger "console;verbosity=detailed" | Out-Host
  $status = $LASTEXITCODE
  Remove-Item Env:CUDNNRNN_RECORD_DIR, Env:CUDNNRNN_RECORD_ROOT, Env:CUDNNRNN_RECORD_REPORT -ErrorAction SilentlyContinue
  $folder = "$(Get-Content $report.FullName -Raw)".Trim(); Remove-Item $report.FullName
  if (-not $folder) { Write-Host "==> no cuDNN recording was made (no usable GPU or cuDNN: the skip reason is above)"; return 3 }
  Write-Host "==> cuDNN recording: $folder; the CPU and OpenCL tests replay every folder in tests/recordings: commit it"
  return $status
}
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
    $recordStatus = RecordCudnn ""  # first: the recording the CPU/OpenCL tests replay
    dotnet test CudnnRnn.sln -c Release --no-build --filter "FullyQualifiedName~CudnnRnn.Cuda.Tests" @Rest; if ($LASTEXITCODE) { exit $LASTEXITCODE }
    Cli checksums --engine cuda
    Cli verify ../shared/golden --engine cuda --dtype float64 --layout all
    Cli verify ../shared/golden --engine cuda --dtype float32 --layout all
    if ($recordStatus -ne 0 -and $recordStatus -ne 3) { Write-Error "the cuDNN recording step failed (exit $recordStatus)"; exit $recordStatus } }
  "record-cudnn" {
    dotnet build CudnnRnn.sln -c Release -v quiet -nologo; if ($LASTEXITCODE) { exit $LASTEXITCODE }
    exit (RecordCudnn $(if ($Rest) { $Rest[0] } else { "" })) }
  "pack"     { dotnet pack CudnnRnn.sln -c Release -o artifacts/packages; exit $LASTEXITCODE }
  default    { Write-Error "usage: .\build.ps1 [test|demo|bench|gpu-test|record-cudnn [DIR]|verify|build|pack]"; exit 2 }
}
