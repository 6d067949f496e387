using CudnnRnn.Testing;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>The shared conformance suite (every golden case × layout × float64/float32) on the OpenCL engine.</summary>
public sealed class OpenClConformanceTests : EngineConformance
{
    protected override IRnnEngine? TryCreateEngine(out string reason)
    {
        var engine = SharedOpenCl.TryGet(out reason);
        if (engine is null) reason = "OpenCL is unavailable here: " + reason;
        return engine is null ? null : new SharedEngineLease(engine);
    }
}
