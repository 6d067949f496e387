using System.Numerics;
using System.Text.Json;
using CudnnRnn.Cpu;

namespace CudnnRnn.Cli.Bench;

/// <summary>
/// GEMM micro-benchmark: our blocked <see cref="Gemm"/> beside the naive <see cref="ReferenceGemm"/> on libtorch-bench's
/// five sgemm shapes (all NN, row-major, so they compare directly with its table) and on the GEMMs the RNN engine issues
/// for shapes a–e (hoisted input projection, per-step recurrent product, backward dX and dh, weight gradient).
/// </summary>
internal static class GemmBench
{
    /// <summary>One GEMM: C[m×n] = op(A)·op(B), op(A) m×k.</summary>
    internal sealed record Case(string Note, bool TransA, bool TransB, int M, int N, int K)
    {
        /// <summary>libtorch-bench's key: M x K x N.</summary>
        public string Key => $"{M}x{K}x{N}";
        public string Op => $"{(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')}";
        public double Flops => 2.0 * M * N * K;
    }

    /// <summary>libtorch-bench's sgemm shapes (torch.mm of row-major [M,K]·[K,N]).</summary>
    public static readonly Case[] LibtorchCases =
    [
        new("square peak", false, false, 1024, 1024, 1024),
        new("256x512x32", false, false, 256, 32, 512),
        new("32x512x256 per-step-like", false, false, 32, 256, 512),
        new("shape e per-step gates", false, false, 64, 2048, 1024),
        new("shape a hoisted input", false, false, 1600, 512, 128),
    ];

    /// <summary>The GEMMs the CPU engine runs for <paramref name="s"/> (layer 0), in their real transpose cases.</summary>
    public static IEnumerable<Case> RnnCases(BenchShape s)
    {
        int gh = s.Gates * s.Hidden, rows = s.T * s.Batch;
        yield return new($"{s.Id}: X·W^T input projection", false, true, rows, gh, s.Input);
        yield return new($"{s.Id}: h·R^T per step", false, true, s.Batch, gh, s.Hidden);
        yield return new($"{s.Id}: dG·W backward dX", false, false, rows, s.Input, gh);
        yield return new($"{s.Id}: dG·R backward dh per step", false, false, s.Batch, s.Hidden, gh);
        yield return new($"{s.Id}: dG^T·X weight gradient", true, false, gh, s.Input, rows);
    }

    public static List<BenchResult> Run<T>(IEnumerable<BenchShape> shapes, int threads, int warmup, int reps,
        IReadOnlyDictionary<string, double>? libtorchGflops, TextWriter output) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var cases = LibtorchCases.Concat(shapes.SelectMany(RnnCases))
            .DistinctBy(c => (c.TransA, c.TransB, c.M, c.N, c.K)).ToList();
        var results = new List<BenchResult>();
        string dt = typeof(T) == typeof(float) ? "sgemm" : "dgemm";
        output.WriteLine($"{dt}, {threads} thread(s); ours = blocked Gemm, ref = ReferenceGemm (naive baseline); libtorch = torch.mm from --libtorch-json");
        output.WriteLine($"{"op",-3} {"MxKxN",-16} {"ours ms",9} {"ours GF/s",9} {"ref GF/s",9} {"x ref",6} {"torch GF/s",10} {"% torch",8}   note");
        var rng = new Random(7);
        foreach (var c in cases)
        {
            var a = RandomArray<T>(c.M * c.K, rng);
            var b = RandomArray<T>(c.K * c.N, rng);
            var cc = new T[c.M * c.N];
            int lda = c.TransA ? c.M : c.K, ldb = c.TransB ? c.K : c.N;
            var ours = BenchTimer.MeasureShort(() => Gemm.Multiply<T>(c.TransA, c.TransB, c.M, c.N, c.K, a, lda, b, ldb, cc, c.N, false, threads), warmup, reps);
            // The naive baseline is single-threaded and slow: fewer samples, same median rule.
            var reference = BenchTimer.MeasureShort(() => ReferenceGemm.Multiply<T>(c.TransA, c.TransB, c.M, c.N, c.K, a, lda, b, ldb, cc, c.N, false), 1, 3, minTotalMs: 50, maxReps: 10);
            var r = new BenchResult("gemm", c.Key, threads, c.Op, "", ours.MedianMs, ours.MinMs, ours.Reps, c.Flops);
            var rr = new BenchResult("gemm", c.Key, 1, c.Op, "", reference.MedianMs, reference.MinMs, reference.Reps, c.Flops, Impl: "reference");
            results.Add(r);
            results.Add(rr);
            string packedNote = "";
            if (c.Note.Contains("per step", StringComparison.Ordinal))
            {
                // The recurrent weights are the same for every step: pack them once (GemmPackedB), as the engine can.
                var packed = new GemmPackedB<T>(c.N, c.K);
                packed.Pack(c.TransB, b, ldb);
                var pk = BenchTimer.MeasureShort(() => Gemm.Multiply<T>(c.TransA, c.M, a, lda, packed, cc, c.N, false, threads), warmup, reps);
                var rp = new BenchResult("gemm", c.Key, threads, c.Op, "", pk.MedianMs, pk.MinMs, pk.Reps, c.Flops, Impl: "ours-packedB");
                results.Add(rp);
                packedNote = $"; B pre-packed: {rp.Gflops:F1} GF/s";
            }
            string torch = "", pct = "";
            if (c.Op == "NN" && libtorchGflops is not null && libtorchGflops.TryGetValue(c.Key, out double tg))
            {
                torch = tg.ToString("F1");
                pct = (100 * r.Gflops / tg).ToString("F0") + " %";
            }
            output.WriteLine($"{c.Op,-3} {c.Key,-16} {r.MedianMs,9:F4} {r.Gflops,9:F1} {rr.Gflops,9:F1} {r.Gflops / rr.Gflops,6:F1} {torch,10} {pct,8}   {c.Note}{packedNote}");
        }
        return results;
    }

    /// <summary>Reads libtorch-bench's JSON: sgemm GFLOP/s by "MxKxN" for one thread count.</summary>
    public static Dictionary<string, double> ReadLibtorch(string path, int threads)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var map = new Dictionary<string, double>();
        foreach (var e in doc.RootElement.GetProperty("results").EnumerateArray())
        {
            if (e.GetProperty("kind").GetString() == "sgemm" && e.GetProperty("threads").GetInt32() == threads)
                map[e.GetProperty("shape").GetString()!] = e.GetProperty("gflops").GetDouble();
        }
        return map;
    }

    private static T[] RandomArray<T>(int length, Random rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new T[length];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        return x;
    }
}
