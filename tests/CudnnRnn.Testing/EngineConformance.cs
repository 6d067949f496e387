using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Testing;

/// <summary>
/// The conformance suite, written once and run per engine: every ../shared/golden case in float64 and float32 and in
/// every data layout, with tolerances derived by <see cref="Tolerance"/>. A derived class supplies the engine; an engine
/// that cannot run here makes every test skip with the reason (never pass).
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

    /// <summary>The engine, or a skip with the reason.</summary>
    protected IRnnEngine RequireEngine()
    {
        var engine = TryCreateEngine(out var reason);
        if (engine is null) Assert.Skip(reason);
        return engine;
    }
}
