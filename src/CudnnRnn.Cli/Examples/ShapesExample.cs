// Reproduces the "understanding the outputs of a bidirectional nn.GRU / nn.LSTM" tutorial: the shapes of input, output,
// h_n and c_n in sequence-major and batch-major (batch_first) layouts, and how output splits into a forward and a reverse
// half. It computes, with real numbers, the point every such tutorial warns about: the forward half at each sequence's
// last step equals h_n's forward state, but the reverse half's final state sits at t = 0, so output[-1] is not h_n.
using System.Globalization;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Examples;

/// <summary>One comparison: an output slice against an h_n slice, whether they should be equal, and how far apart they are.</summary>
internal sealed record ShapesCheck(RnnMode Cell, string Description, bool ExpectEqual, double MaxAbsDifference)
{
    /// <summary>True when the outcome is the documented one (exactly equal, or different).</summary>
    public bool Holds => ExpectEqual ? MaxAbsDifference == 0 : MaxAbsDifference > 0;
}

/// <summary>Every comparison made, and the largest difference between the seq-major and batch-major results.</summary>
internal sealed record ShapesResult(IReadOnlyList<ShapesCheck> Checks, double MaxLayoutDifference);

internal static class ShapesExample
{
    private const int InputSize = 4, Hidden = 3, Layers = 2, Batch = 3, Steps = 5;
    private static readonly int[] Lengths = [5, 3, 4];   // sequence 1 is padded after t = 2, sequence 2 after t = 3

    public static ShapesResult Run(IRnnEngine engine, ExampleOptions options)
    {
        var log = options.Log;
        var checks = new List<ShapesCheck>();
        double layoutDifference = 0;
        foreach (var cell in options.Cell is { } c ? [c] : new[] { RnnMode.Gru, RnnMode.Lstm })
        {
            var rnn = new RnnDescriptor(cell, InputSize, Hidden, Layers, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
            using var layer = new RnnLayer<float>(engine, rnn, options.Seed);
            layer.Training = false;
            var rng = new SeededRandom(options.Seed);
            var xSeq = new float[Steps * Batch * InputSize];
            rng.FillUniform<float>(xSeq, 1.0);
            var seqDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, Steps, Batch, InputSize, Lengths);
            var batchDesc = seqDesc.WithLayout(RnnDataLayout.BatchMajorUnpacked);
            for (int t = 0; t < Steps; t++)   // padding positions of x are zero; the engine ignores them anyway
                for (int b = 0; b < Batch; b++)
                    if (t >= Lengths[b]) xSeq.AsSpan((t * Batch + b) * InputSize, InputSize).Clear();
            var xBatch = Transpose(xSeq, Steps, Batch, InputSize);
            RnnOutput<float> seq, bat;
            using (var context = layer.Forward(seqDesc, xSeq)) seq = context.ReadOutputs();
            using (var context = layer.Forward(batchDesc, xBatch)) bat = context.ReadOutputs();

            log.WriteLine($"{ExampleMath.CellName(cell)}: input_size {InputSize}, hidden_size S = {Hidden}, num_layers L = {Layers}, bidirectional (D = 2); " +
                          $"batch B = {Batch}, T = {Steps} steps, lengths [{string.Join(", ", Lengths)}]");
            log.WriteLine($"  {"tensor",-10} {"seq-major (batch_first=False)",-31} {"batch-major (batch_first=True)",-31}");
            log.WriteLine($"  {"input x",-10} {Shape(seqDesc),-31} {Shape(batchDesc),-31}");
            log.WriteLine($"  {"output y",-10} {Shape(seq.YDesc),-31} {Shape(bat.YDesc),-31}");
            log.WriteLine($"  {"h_n",-10} {StateShape(seq.Hy),-31} {StateShape(bat.Hy) + "  (never batch-first)",-31}");
            if (cell == RnnMode.Lstm)
                log.WriteLine($"  {"c_n",-10} {StateShape(seq.Cy),-31} {StateShape(bat.Cy) + "  (never batch-first)",-31}");
            log.WriteLine($"  y[t, b, 0:{Hidden}] is the forward direction, y[t, b, {Hidden}:{2 * Hidden}] the reverse; h_n[layer*2 + dir, b]: " +
                          $"h_n[{2 * (Layers - 1)}] = last layer forward, h_n[{2 * (Layers - 1) + 1}] = last layer reverse");

            // Seq-major y [T, B, 2S], h_n [L·2, B, S]. Compare slices of length S.
            float[] Y(int t, int b, int dir) => seq.Y.AsSpan((t * Batch + b) * 2 * Hidden + dir * Hidden, Hidden).ToArray();
            float[] H(int layerIndex, int dir, int b) => seq.Hy.AsSpan(((layerIndex * 2 + dir) * Batch + b) * Hidden, Hidden).ToArray();
            int last = Layers - 1;
            foreach (int b in new[] { 0, 1 })
            {
                int len = Lengths[b];
                log.WriteLine($"  sequence {b} (length {len} of {Steps}):");
                var hf = H(last, 0, b);
                var hr = H(last, 1, b);
                log.WriteLine($"    {$"h_n[{2 * last}, {b}]",-16} {Format(hf)}  last layer, forward");
                log.WriteLine($"    {$"h_n[{2 * last + 1}, {b}]",-16} {Format(hr)}  last layer, reverse");
                Compare(checks, log, cell, $"y[{len - 1}, {b}, 0:{Hidden}]", $"forward half at the last valid step t = {len - 1}", Y(len - 1, b, 0), hf, $"h_n[{2 * last}, {b}]", true);
                Compare(checks, log, cell, $"y[0, {b}, {Hidden}:{2 * Hidden}]", "reverse half at t = 0", Y(0, b, 1), hr, $"h_n[{2 * last + 1}, {b}]", true);
                Compare(checks, log, cell, $"y[{Steps - 1}, {b}, {Hidden}:{2 * Hidden}]", len < Steps ? "reverse half of output[-1] (padding)" : "reverse half of output[-1]", Y(Steps - 1, b, 1), hr, $"h_n[{2 * last + 1}, {b}]", false);
                if (len < Steps)
                    Compare(checks, log, cell, $"y[{Steps - 1}, {b}, 0:{Hidden}]", "forward half of output[-1] (padding)", Y(Steps - 1, b, 0), hf, $"h_n[{2 * last}, {b}]", false);
            }

            // The same numbers come out in either layout: y is only stored differently, h_n and c_n not at all.
            double d = MaxAbsDifference(Transpose(seq.Y, Steps, Batch, 2 * Hidden), bat.Y);
            d = Math.Max(d, Math.Max(MaxAbsDifference(seq.Hy, bat.Hy), MaxAbsDifference(seq.Cy, bat.Cy)));
            layoutDifference = Math.Max(layoutDifference, d);
            log.WriteLine($"  batch-major vs seq-major: y (transposed), h_n{(cell == RnnMode.Lstm ? ", c_n" : "")} differ by at most {d:G3}");
            log.WriteLine();
        }
        int failed = checks.Count(c => !c.Holds);
        log.WriteLine(failed == 0
            ? $"all {checks.Count} comparisons came out as documented: take h_n (or y at each sequence's own last step for the forward half, y at t = 0 for the reverse half), not output[-1]"
            : $"{failed} of {checks.Count} comparisons did NOT come out as documented");
        return new ShapesResult(checks, layoutDifference);
    }

    private static void Compare(List<ShapesCheck> checks, TextWriter log, RnnMode cell, string name, string what, float[] y, float[] h, string hName, bool expectEqual)
    {
        double d = MaxAbsDifference(y, h);
        var check = new ShapesCheck(cell, $"{name} ({what}) {(expectEqual ? "==" : "!=")} {hName}", expectEqual, d);
        checks.Add(check);
        string verdict = d == 0 ? $"== {hName} exactly" : $"!= {hName} (max |diff| {d:F4})";
        log.WriteLine($"    {name,-16} {Format(y)}  {what}: {verdict}{(check.Holds ? "" : "   <-- UNEXPECTED")}");
    }

    private static string Shape(RnnDataDescriptor d) => d.Layout == RnnDataLayout.BatchMajorUnpacked
        ? $"[B={d.Batch}, T={d.MaxSeqLength}, {d.VectorSize}]"
        : $"[T={d.MaxSeqLength}, B={d.Batch}, {d.VectorSize}]";

    private static string StateShape(float[] state) => $"[L*D={state.Length / (Batch * Hidden)}, B={Batch}, S={Hidden}]";

    private static string Format(float[] v) => "[" + string.Join(", ", v.Select(f => f.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture))) + "]";

    /// <summary>[rows, cols, width] ↔ [cols, rows, width].</summary>
    private static float[] Transpose(float[] a, int rows, int cols, int width)
    {
        var r = new float[a.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                a.AsSpan((i * cols + j) * width, width).CopyTo(r.AsSpan((j * rows + i) * width));
        return r;
    }

    private static double MaxAbsDifference(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Lengths differ: {a.Length} vs {b.Length}.");
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }
}
