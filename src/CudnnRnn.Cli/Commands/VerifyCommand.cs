using System.CommandLine;
using System.Text.Json;
using CudnnRnn.Verification;

namespace CudnnRnn.Cli;

/// <summary><c>cudnnrnn verify &lt;file-or-folder&gt;</c>: runs golden cases on an engine and reports the worst errors.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("file-or-folder") { Description = "A golden case (.json) or a folder of them (../shared/golden)." };
        var dtype = new EnumOption<RnnDataType>("--dtype", "Element type.", RnnDataType.Float64, Words.DataTypes);
        var layout = new EnumOption<LayoutChoice>("--layout", "Data layout: seq, packed, batch, or all three.", LayoutChoice.Seq,
            [("seq", LayoutChoice.Seq), ("packed", LayoutChoice.Packed), ("batch", LayoutChoice.Batch), ("all", LayoutChoice.All)]);
        var json = new Option<string?>("--json") { Description = "Also write per case and tensor maxAbs and scale to this JSON file." };
        var cmd = new Command("verify", "Run golden reference cases (forward, backward data, backward weights) and compare every tensor.")
        {
            path, dtype, layout, json,
        };
        var engine = EngineOptions.AddTo(cmd);
        cmd.SetAction(r => Run(r.GetValue(path)!, engine.GetValue(r), dtype.GetValue(r), layout.GetValue(r), r.GetValue(json)));
        return cmd;
    }

    /// <summary>The layouts <c>--layout</c> selects.</summary>
    private enum LayoutChoice { Seq, Packed, Batch, All }

    private static int Run(string path, EngineChoice choice, RnnDataType dt, LayoutChoice layoutChoice, string? jsonPath)
    {
        IReadOnlyList<string> files;
        try { files = GoldenCase.FindFiles(path); }
        catch (FileNotFoundException e) { Console.Error.WriteLine($"verify: {e.Message}"); return Cli.UsageError; }
        if (files.Count == 0) { Console.Error.WriteLine($"verify: no golden case (*.json) in '{path}'."); return Cli.UsageError; }
        var layouts = layoutChoice switch
        {
            LayoutChoice.Seq => [RnnDataLayout.SeqMajorUnpacked],
            LayoutChoice.Packed => [RnnDataLayout.SeqMajorPacked],
            LayoutChoice.Batch => [RnnDataLayout.BatchMajorUnpacked],
            _ => Enum.GetValues<RnnDataLayout>(),
        };
        IRnnEngine engine;
        try { engine = choice.Create(); }
        catch (RnnEngineUnavailableException e) { Console.Error.WriteLine($"verify: {e.Message}"); return Cli.UsageError; }
        using var _ = engine;
        string dtype = Words.Of(dt);
        if (!engine.Supports(dt, out var why)) { Console.Error.WriteLine($"verify: the {engine.Name} engine cannot compute in {dtype}: {why}"); return Cli.UsageError; }
        Console.WriteLine($"engine {engine.Name} ({engine.DeviceDescription}), {dtype}");

        int passed = 0, failed = 0;
        var records = new List<object>();
        foreach (var file in files)
        {
            GoldenCase golden;
            try { golden = GoldenCase.Load(file); }
            catch (FormatException e) { Console.Error.WriteLine($"verify: {e.Message}"); return Cli.UsageError; }
            foreach (var layout in layouts)
            {
                if (dt is RnnDataType.Float16 or RnnDataType.BFloat16)
                {
                    if (Verify16(engine, golden, layout, dt, records)) passed++; else failed++;
                    continue;
                }
                GoldenResult result;
                try
                {
                    result = dt == RnnDataType.Float32 ? GoldenVerifier.Run<float>(engine, golden, layout) : GoldenVerifier.Run<double>(engine, golden, layout);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // An engine that rejects a case (a native status, an unsupported combination) fails that case; the rest still run.
                    failed++;
                    Console.WriteLine($"FAIL {golden.Name,-40} {LayoutName(layout),-6} {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                    records.Add(new { @case = golden.Name, engine = engine.Name, dtype, layout = LayoutName(layout), passed = false, error = e.Message });
                    continue;
                }
                if (result.Passed) passed++; else failed++;
                string groups = string.Join("  ", result.WorstPerGroup.Select(t => $"{t.Group} {t.MaxAbs:E1}/{t.RelativeToScale:E1}"));
                Console.WriteLine($"{(result.Passed ? "PASS" : "FAIL")} {golden.Name,-40} {LayoutName(layout),-6} {groups}");
                foreach (var t in result.Tensors.Where(t => !t.Passed)) Console.WriteLine($"     {t}");
                records.Add(new
                {
                    @case = golden.Name, engine = engine.Name, dtype, layout = LayoutName(layout), passed = result.Passed,
                    tensors = result.Tensors.Select(t => new { name = t.Name, group = t.Group, maxAbs = t.MaxAbs, scale = t.Scale, rtol = t.Rtol, passed = t.Passed }),
                });
            }
        }
        Console.WriteLine(dt is RnnDataType.Float16 or RnnDataType.BFloat16
            ? "(per group: max |ours - expected| / that divided by max |expected|; PASS/FAIL is against the float64 result of the rounded inputs, within the tolerance derived from the storage unit roundoff)"
            : "(per group: max |ours - expected| / that divided by max |expected|)");
        if (jsonPath is not null)
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(records, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// One case in a 16-bit type: inputs and weights rounded from the float64 values; the worst error per tensor group
    /// against the CPU float64 result of those rounded inputs (asserted, HalfPrecision's derived tolerance) and against
    /// the original golden (reported).
    /// </summary>
    private static bool Verify16(IRnnEngine engine, GoldenCase golden, RnnDataLayout layout, RnnDataType dt, List<object> records)
    {
        string dtype = Words.Of(dt);
        Golden16Result result;
        try
        {
            result = dt == RnnDataType.Float16 ? HalfPrecision.RunGolden<Half>(engine, golden, layout) : HalfPrecision.RunGolden<BFloat16>(engine, golden, layout);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.WriteLine($"FAIL {golden.Name,-40} {LayoutName(layout),-6} {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
            records.Add(new { @case = golden.Name, engine = engine.Name, dtype, layout = LayoutName(layout), passed = false, error = e.Message });
            return false;
        }
        static string Groups(IEnumerable<TensorComparison> list) =>
            string.Join("  ", Golden16Result.WorstPerGroup(list).Select(t => $"{t.Group} {t.MaxAbs:E1}/{t.RelativeToScale:E1}"));
        Console.WriteLine($"{(result.Passed ? "PASS" : "FAIL")} {golden.Name,-40} {LayoutName(layout),-6} vs rounded-input f64: {Groups(result.VsRounded)}");
        Console.WriteLine($"     {"",-40} {"",-6} vs original golden:   {Groups(result.VsGolden)}");
        foreach (var t in result.VsRounded.Where(t => !t.Passed)) Console.WriteLine($"     {t}");
        records.Add(new
        {
            @case = golden.Name, engine = engine.Name, dtype, layout = LayoutName(layout), passed = result.Passed,
            vsRounded = result.VsRounded.Select(t => new { name = t.Name, group = t.Group, maxAbs = t.MaxAbs, scale = t.Scale, rtol = t.Rtol, passed = t.Passed }),
            vsGolden = result.VsGolden.Select(t => new { name = t.Name, group = t.Group, maxAbs = t.MaxAbs, scale = t.Scale }),
        });
        return result.Passed;
    }

    private static string LayoutName(RnnDataLayout l) => l switch
    {
        RnnDataLayout.SeqMajorUnpacked => "seq",
        RnnDataLayout.SeqMajorPacked => "packed",
        _ => "batch",
    };
}
