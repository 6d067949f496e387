using CudnnRnn.Testing.Recording;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>The OpenCL engine against every cuDNN recording in tests/recordings (skips with the reason while there is none).</summary>
public sealed class OpenClCudnnRecordingTests : CudnnRecordingConformance
{
    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        var engine = SharedOpenCl.TryGet(out reason);
        if (engine is null) reason = "OpenCL is unavailable here: " + reason;
        return engine is null ? null : new SharedEngineLease(engine);
    }
}

/// <summary>
/// The replay and its bounds across two independent implementations, without a GPU: the CPU engine's dry-run recording
/// of the whole set, replayed on OpenCL (its own kernels, summation order and, on PoCL, FMA contraction) must stay within
/// the bounds the cuDNN recording is held to; the worst error over its bound per tensor group is printed.
/// </summary>
public sealed class OpenClRecordingDryRunTests
{
    public static TheoryData<string> ConfigNames() => CpuDryRun.ConfigNames();

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void OpenCl_replays_the_cpu_dry_run_within_the_bounds(string config)
    {
        var engine = SharedOpenCl.Require();
        var entry = CpuDryRun.Manifest.Get(config);
        if (!engine.Supports(entry.DataType, out var why)) Assert.Skip($"OpenCL does not support {entry.DataType} here: {why}");
        var result = RecordingReplay.Run(new SharedEngineLease(engine), CpuDryRun.Folder, entry);
        foreach (var (group, overBound, rel) in result.WorstPerGroup)
            TestContext.Current.TestOutputHelper?.WriteLine($"{group}: worst error {overBound:E2} of the bound (rel. to scale {rel:E2})");
        Assert.True(result.Passed, string.Join("; ", result.Failures));
    }
}
