using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// The shared conformance suite (every ../shared/golden case, float64 and float32, every layout; the strict parity with
/// the CPU reference on the random configurations) on the cuDNN engine. Without a GPU every case is skipped with
/// CudaEngine.TryCreate's reason.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class CudaConformanceTests : EngineConformance
{
    /// <summary>cuDNN draws its dropout masks from its own RNG: parity runs without dropout.</summary>
    protected override bool SharesCpuDropoutMasks => false;

    /// <inheritdoc/>
    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        if (CudaEngine.TryCreate(out var engine, out reason)) return engine;
        reason = $"No usable cuDNN/GPU: {reason}";
        return null;
    }
}
