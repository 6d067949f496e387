using System.Numerics;
using CudnnRnn.OpenCL;
using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)] // PoCL already uses every core for each kernel.

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// One OpenCL engine for the whole test run: PoCL compiles the kernel program on first use (seconds), and the engine
/// caches it, so every test shares this engine instead of building its own. When OpenCL is unavailable every test skips
/// with the reason (never passes).
/// </summary>
internal static class SharedOpenCl
{
    private static readonly Lazy<(OpenClEngine? Engine, string Reason)> s_engine = new(() =>
        OpenClEngine.TryCreate(out var e, out var why) ? (e, "") : (null, why));

    /// <summary>The shared engine, or a skip with the reason OpenCL is unavailable here.</summary>
    public static OpenClEngine Require()
    {
        var (engine, reason) = s_engine.Value;
        if (engine is null) Assert.Skip("OpenCL is unavailable here: " + reason);
        return engine;
    }

    /// <summary>The shared engine or null with the reason.</summary>
    public static OpenClEngine? TryGet(out string reason)
    {
        var (engine, why) = s_engine.Value;
        reason = why;
        return engine;
    }
}

/// <summary>
/// The shared engine seen through a lease whose Dispose does nothing: the conformance suite disposes the engine it gets
/// after every test, which must not tear down the shared context and its compiled programs.
/// </summary>
internal sealed class SharedEngineLease(OpenClEngine inner) : IRnnEngine
{
    public string Name => inner.Name;
    public string DeviceDescription => inner.DeviceDescription;
    public bool Supports(RnnDataType dataType, out string? reason) => inner.Supports(dataType, out reason);
    public RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T> => inner.Allocate<T>(length);
    public RnnWeightLayout GetWeightLayout(RnnDescriptor rnn) => inner.GetWeightLayout(rnn);
    public RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T> =>
        inner.CreatePlan<T>(rnn, xDesc);
    public void Dispose() { }
}
