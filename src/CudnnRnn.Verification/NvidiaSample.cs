namespace CudnnRnn.Verification;

/// <summary>
/// NVIDIA's RNN_v8.0 sample configuration and its golden checksums (cuDNN's own numbers):
/// FP32, T 20, 2 layers, input = hidden = 512, batch 64, packed layout, all lengths 20, double bias, linear input;
/// x, hx, cx, dy, dhy, dcy all 1; every matrix 1/(rows·cols), every bias 1; dW accumulated into a zeroed buffer.
/// Checksums are double sums over each tensor (dw over the whole weight-gradient space); the sample's tolerance is 1e-3
/// relative.
/// </summary>
public static class NvidiaSample
{
    /// <summary>The sample's relative tolerance (compare.py).</summary>
    public const double Tolerance = 1e-3;

    /// <summary>Quantities and NVIDIA's values per cell mode (golden_1..4.txt).</summary>
    public static IReadOnlyDictionary<RnnMode, (string Name, double Value)[]> Golden => GoldenTable;

    private static readonly Dictionary<RnnMode, (string Name, double Value)[]> GoldenTable = new()
    {
        [RnnMode.RnnRelu] = [("y", 1.315793E+06), ("hy", 1.315212E+05), ("dx", 6.676003E+01), ("dhx", 6.425050E+01), ("dw", 1.453750E+09)],
        [RnnMode.RnnTanh] = [("y", 6.319591E+05), ("hy", 6.319605E+04), ("dx", 4.501830E+00), ("dhx", 4.489543E+00), ("dw", 5.012598E+07)],
        [RnnMode.Lstm] = [("y", 5.749536E+05), ("cy", 4.365091E+05), ("hy", 5.774818E+04), ("dx", 3.842206E+02), ("dcx", 9.323785E+03), ("dhx", 1.182562E+01), ("dw", 4.313461E+08)],
        [RnnMode.Gru] = [("y", 6.358978E+05), ("hy", 6.281680E+04), ("dx", 6.296622E+00), ("dhx", 2.289960E+05), ("dw", 5.397419E+07)],
    };

    /// <summary>Runs the sample's configuration on <paramref name="engine"/> and returns the checksums by quantity.</summary>
    public static Dictionary<string, double> Compute(RnnMode mode, IRnnEngine engine)
    {
        const int T = 20, L = 2, H = 512, B = 64;
        var rnn = new RnnDescriptor(mode, H, H, L, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, T, B, H);
        using var plan = engine.CreatePlan<float>(rnn, xDesc);
        var layout = plan.WeightLayout;
        var ws = new float[layout.TotalElements];
        foreach (var e in layout.Entries)
        {
            if (e.HasMatrix) ws.AsSpan((int)e.MatrixOffset, e.Rows * e.Cols).Fill(1f / (e.Rows * e.Cols));
            if (e.HasBias) ws.AsSpan((int)e.BiasOffset, e.BiasLength).Fill(1f);
        }
        bool lstm = mode == RnnMode.Lstm;
        float[] Ones(long n) { var a = new float[n]; Array.Fill(a, 1f); return a; }
        // x, hx, cx, dy, dhy, dcy all 1; dW accumulated (ADD) into a zeroed buffer, as the sample does.
        using var pass = new PassBuffers<float>(plan, Ones(xDesc.ElementCount), ws, Ones(plan.HiddenStateElements),
            lstm ? Ones(plan.CellStateElements) : null, Ones(plan.YDesc.ElementCount), Ones(plan.HiddenStateElements),
            lstm ? Ones(plan.CellStateElements) : null);
        pass.RunTraining(WeightGradMode.Add);
        RnnBuffer<float> y = pass.Y, hy = pass.Hy, dx = pass.Dx, dhx = pass.Dhx, dw = pass.Dw;
        RnnBuffer<float>? cy = pass.Cy, dcx = pass.Dcx;
        static double Sum(RnnBuffer<float>? b) => b is null ? 0 : b.ToArray().Sum(v => (double)v);
        var r = new Dictionary<string, double>
        {
            ["y"] = Sum(y), ["hy"] = Sum(hy), ["dx"] = Sum(dx), ["dhx"] = Sum(dhx), ["dw"] = Sum(dw),
        };
        if (lstm) { r["cy"] = Sum(cy); r["dcx"] = Sum(dcx); }
        return r;
    }
}
