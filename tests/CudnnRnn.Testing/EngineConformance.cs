using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Testing;

/// <summary>
/// The conformance suite, written once and run per engine: every ../shared/golden case in float64 and float32 and in
/// every data layout, with tolerances derived by <see cref="Tolerance"/>, and the same strict comparison with the CPU
/// reference on every engine (<see cref="EngineParity"/> on <see cref="RandomConfigurations"/>). A derived class supplies
/// the engine; an engine that cannot run here makes every test skip with the reason (never pass).
/// </summary>
public abstract class EngineConformance
{
    /// <summary>Creates the engine, or returns null with the reason it is unavailable here.</summary>
    protected abstract IRnnEngine? TryCreateEngine(out string reason);

    /// <summary>Cases × layouts.</summary>
    public static TheoryData<string, RnnDataLayout> GoldenCases()
    {
        var data = new TheoryData<string, RnnDataLayout>();
        foreach (var f in SharedData.GoldenFiles())
            foreach (var layout in Enum.GetValues<RnnDataLayout>())
                data.Add(f, layout);
        return data;
    }

    /// <summary>Every golden case, float64.</summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_Float64(string file, RnnDataLayout layout) => RunGolden<double>(file, layout);

    /// <summary>Every golden case, float32 (inputs rounded to float).</summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_Float32(string file, RnnDataLayout layout) => RunGolden<float>(file, layout);

    /// <summary>Every golden case, Float16 storage (inputs and weights rounded from float64; see <see cref="RunGolden16{T}"/>).</summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_Float16(string file, RnnDataLayout layout) => RunGolden16<Half>(file, layout);

    /// <summary>Every golden case, BFloat16 storage.</summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Golden_BFloat16(string file, RnnDataLayout layout) => RunGolden16<BFloat16>(file, layout);

    /// <summary>
    /// Whether the engine keeps intermediates (layer outputs, states between steps) in 16 bits, which widens the derived
    /// 16-bit tolerances (<see cref="HalfPrecision.Tolerances"/>). The CPU engine computes in float and rounds only its outputs.
    /// </summary>
    protected virtual bool RoundsIntermediatesTo16Bit => false;

    /// <summary>
    /// Whether the engine draws the CPU engine's dropout masks (CPU, OpenCL). cuDNN draws its own from its RNG, so its
    /// parity runs the same configurations without dropout (the masks cannot agree; everything else must).
    /// </summary>
    protected virtual bool SharesCpuDropoutMasks => true;

    /// <summary>Every random configuration's seed.</summary>
    public static TheoryData<int> ParitySeeds() => new(Enumerable.Range(0, RandomConfigurations.Count));

    /// <summary>The engine against the CPU reference, float64.</summary>
    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Parity_Float64(int seed) => RunParity<double>(seed);

    /// <summary>The engine against the CPU reference, float32.</summary>
    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Parity_Float32(int seed) => RunParity<float>(seed);

    /// <summary>The engine against the CPU 16-bit reference, Float16.</summary>
    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Parity_Float16(int seed) => RunParity<Half>(seed);

    /// <summary>The engine against the CPU 16-bit reference, BFloat16.</summary>
    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Parity_BFloat16(int seed) => RunParity<BFloat16>(seed);

    private void RunParity<T>(int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var engine = RequireEngine();
        if (!engine.Supports(RnnDescriptor.DataTypeOf<T>(), out var why))
            Assert.Skip($"{engine.Name} does not support {typeof(T).Name} here: {why}");
        var (rnn, xDesc) = RandomConfigurations.Get(seed, RnnDescriptor.DataTypeOf<T>());
        if (!SharesCpuDropoutMasks && rnn.Dropout > 0) rnn = rnn.WithDropout(0, rnn.DropoutSeed);
        EngineParity.AssertMatchesCpu<T>(engine, rnn, xDesc, seed, TestContext.Current.TestOutputHelper, RoundsIntermediatesTo16Bit);
    }

    /// <summary>Runs one case and asserts every tensor.</summary>
    protected void RunGolden<T>(string file, RnnDataLayout layout) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var engine = RequireEngine();
        if (!engine.Supports(RnnDescriptor.DataTypeOf<T>(), out var why))
            Assert.Skip($"{engine.Name} does not support {typeof(T).Name} here: {why}");
        var golden = GoldenCase.Load(SharedData.Path("golden", file));
        var result = GoldenVerifier.Run<T>(engine, golden, layout);
        var failed = result.Tensors.Where(t => !t.Passed).ToList();
        Assert.True(failed.Count == 0,
            $"{file} [{typeof(T).Name}, {layout}] on {engine.Name}: " + string.Join("; ", failed.Select(f => f.ToString())));
    }

    /// <summary>
    /// Runs one case in a 16-bit type: asserts every tensor against the float64 CPU result of the rounded inputs
    /// (derived tolerance) and reports the total error against the original golden.
    /// </summary>
    protected void RunGolden16<T>(string file, RnnDataLayout layout) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var engine = RequireEngine();
        if (!engine.Supports(RnnDescriptor.DataTypeOf<T>(), out var why))
            Assert.Skip($"{engine.Name} does not support {typeof(T).Name} here: {why}");
        var golden = GoldenCase.Load(SharedData.Path("golden", file));
        var result = HalfPrecision.RunGolden<T>(engine, golden, layout, RoundsIntermediatesTo16Bit);
        var log = TestContext.Current.TestOutputHelper;
        foreach (var t in Golden16Result.WorstPerGroup(result.VsRounded)) log?.WriteLine("vs rounded-input float64: " + t);
        foreach (var t in Golden16Result.WorstPerGroup(result.VsGolden)) log?.WriteLine("vs original golden (reported): " + t);
        var failed = result.VsRounded.Where(t => !t.Passed).ToList();
        Assert.True(failed.Count == 0,
            $"{file} [{typeof(T).Name}, {layout}] on {engine.Name} vs rounded-input float64: " + string.Join("; ", failed.Select(f => f.ToString())));
    }

    /// <summary>The engine, or a skip with the reason.</summary>
    protected IRnnEngine RequireEngine()
    {
        var engine = TryCreateEngine(out var reason);
        if (engine is null) Assert.Skip(reason);
        return engine;
    }
}
