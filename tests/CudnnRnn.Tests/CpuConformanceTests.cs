using CudnnRnn.Cpu;
using CudnnRnn.Testing;

namespace CudnnRnn.Tests;

/// <summary>The shared conformance suite on the CPU engine (always available).</summary>
public sealed class CpuConformanceTests : EngineConformance
{
    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        reason = "";
        return TestCpu.Engine();
    }
}
