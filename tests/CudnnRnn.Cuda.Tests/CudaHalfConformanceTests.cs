using CudnnRnn.Testing;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// The cuDNN engine's 16-bit path on a GPU (skips visibly without one, and per type where the engine says it cannot run
/// it): every ../shared/golden case in every layout in Float16 and BFloat16 through <see cref="GoldenVerifier"/>, and
/// parity with the CPU engine's 16-bit reference on the random configurations.
/// </summary>
/// <remarks>
/// Dependency on the 16-bit CPU work (branch "half", issue 14 items 3 and 5): GoldenVerifier derives its tolerance from
/// the storage type's machine epsilon (<see cref="Tolerance.Epsilon{T}"/>: 2⁻¹⁰ for Half, 2⁻⁷ for BFloat16) and the
/// accumulation length, against the original float64 golden. The comparison against the float64 result of the
/// *rounded* inputs, and the per-tensor 16-bit tolerances, come with that branch's harness; when it lands these cases
/// should go through it (or through EngineConformance, if it grows Golden_Float16/BFloat16, making this class redundant).
/// The CPU parity cases skip with the CPU engine's own reason until its 16-bit path exists.
/// </remarks>
[Collection(NativeCollection.Name)]
public sealed class CudaHalfConformanceTests
{
    public static TheoryData<string, RnnDataLayout> GoldenCases() => EngineConformance.GoldenCases();

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_Float16(string file, RnnDataLayout layout) => RunGolden<Half>(file, layout);

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_BFloat16(string file, RnnDataLayout layout) => RunGolden<BFloat16>(file, layout);

    public static TheoryData<int> ParitySeeds() => EngineConformance.ParitySeeds();

    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Parity_Float16_against_the_CPU_16_bit_reference(int seed) => RunParity<Half>(seed);

    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Parity_BFloat16_against_the_CPU_16_bit_reference(int seed) => RunParity<BFloat16>(seed);

    private static CudaEngine RequireSupporting<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var engine = Gpu.RequireEngine();
        if (!engine.Supports(RnnDescriptor.DataTypeOf<T>(), out string? why))
        {
            engine.Dispose();
            Assert.Skip($"cuda does not run {typeof(T).Name} here: {why}");
        }
        return engine;
    }

    private static void RunGolden<T>(string file, RnnDataLayout layout) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var engine = RequireSupporting<T>();
        var golden = GoldenCase.Load(SharedData.Path("golden", file));
        var result = GoldenVerifier.Run<T>(engine, golden, layout);
        var failed = result.Tensors.Where(t => !t.Passed).ToList();
        Assert.True(failed.Count == 0, $"{file} [{typeof(T).Name}, {layout}] on cuda: " + string.Join("; ", failed.Select(f => f.ToString())));
    }

    private static void RunParity<T>(int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var engine = RequireSupporting<T>();
        using (var cpu = TestCpu.Engine())
        {
            if (!cpu.Supports(RnnDescriptor.DataTypeOf<T>(), out string? why))
                Assert.Skip($"the CPU 16-bit reference is not available yet: {why}");
        }
        var (rnn, xDesc) = RandomConfigurations.Get(seed, RnnDescriptor.DataTypeOf<T>());
        if (rnn.Dropout > 0) rnn = rnn.WithDropout(0, rnn.DropoutSeed); // cuDNN draws its own masks
        EngineParity.AssertMatchesCpu<T>(engine, rnn, xDesc, seed, TestContext.Current.TestOutputHelper);
    }
}
