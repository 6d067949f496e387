using CudnnRnn.Cpu;

namespace CudnnRnn.Testing;

/// <summary>
/// The CPU engine as tests create it: with a fixed thread count instead of "all cores", so a test splits its work the
/// same way on a 2-core CI runner and a 64-core workstation (its outcome cannot depend on the machine), and the
/// multi-threaded GEMM paths run even on a single core.
/// </summary>
public static class TestCpu
{
    /// <summary>Worker threads of every test's CPU engine.</summary>
    public const int Threads = 2;

    /// <summary>A CPU engine with <see cref="Threads"/> threads.</summary>
    public static CpuEngine Engine() => CpuEngine.Create(Threads);
}
