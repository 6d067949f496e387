using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// CPU reference vs OpenCL on seeded random configurations: every mode, 1–3 layers, both directions, variable lengths,
/// all three layouts, LSTM projection and cell clipping, all four bias modes, skip input, dropout in training (masks must
/// agree exactly, including the second training forward's), optional hx/cx/dhy/dcy, and weight-gradient accumulation
/// onto non-zero dW. Compares y (padding included), hy, cy, dx (padding included), dhx, dcx and dW, and the inference y.
/// </summary>
public sealed class ParityTests(ITestOutputHelper output)
{
    private const int Configurations = 16;

    /// <summary>Combinations the random draw may miss: everything at once, on every mode.</summary>
    private static readonly (RnnDescriptor Rnn, RnnDataDescriptor XDesc)[] Fixed =
    [
        (new RnnDescriptor(RnnMode.Lstm, 5, 8, 3, RnnDirection.Bidirectional, projSize: 3, RnnBiasMode.Double, RnnInputMode.Linear,
            RnnDataType.Float64, dropout: 0.3, dropoutSeed: 42, cellClip: new RnnCellClip(-0.4, 0.5)),
         new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 7, 4, 5, [3, 7, 1, 5], paddingFill: 2.5)),
        (new RnnDescriptor(RnnMode.Gru, 6, 6, 2, RnnDirection.Bidirectional, null, RnnBiasMode.SingleRecurrent, RnnInputMode.Skip,
            RnnDataType.Float64, dropout: 0.4, dropoutSeed: 7),
         new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 6, 5, 6, [6, 5, 5, 2, 1])),
        (new RnnDescriptor(RnnMode.Gru, 3, 7, 3, RnnDirection.Unidirectional, null, RnnBiasMode.SingleInput, RnnInputMode.Linear,
            RnnDataType.Float64, dropout: 0.2, dropoutSeed: 99),
         new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 3, 3, [2, 5, 4], paddingFill: -3)),
        (new RnnDescriptor(RnnMode.RnnRelu, 4, 9, 2, RnnDirection.Bidirectional, null, RnnBiasMode.Double, RnnInputMode.Linear,
            RnnDataType.Float64, dropout: 0.5, dropoutSeed: 5),
         new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 8, 6, 4, [8, 1, 8, 3, 6, 2])),
    ];

    public static TheoryData<int> Seeds() => new(Enumerable.Range(0, Configurations + Fixed.Length));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Float64(int seed) => Run<double>(seed);

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Float32(int seed) => Run<float>(seed);

    /// <summary>A random network and data shape; seed k always gives mode k % 4, so every mode appears equally.</summary>
    internal static (RnnDescriptor Rnn, RnnDataDescriptor XDesc) RandomConfiguration(int seed, RnnDataType dataType)
    {
        if (seed >= Configurations) return (Fixed[seed - Configurations].Rnn.WithDataType(dataType), Fixed[seed - Configurations].XDesc);
        var rng = new Random(1000 + seed);
        var mode = (RnnMode)(seed % 4);
        int hidden = rng.Next(2, 13);
        int layers = rng.Next(1, 4);
        var direction = rng.Next(2) == 0 ? RnnDirection.Unidirectional : RnnDirection.Bidirectional;
        bool skip = rng.Next(4) == 0;
        int input = skip ? hidden : rng.Next(1, 11);
        int? proj = mode == RnnMode.Lstm && rng.Next(2) == 0 ? rng.Next(1, hidden) : null;
        var bias = (RnnBiasMode)rng.Next(4);
        double dropout = layers > 1 && rng.Next(2) == 0 ? 0.1 + 0.4 * rng.NextDouble() : 0.0;
        RnnCellClip? clip = null;
        if (mode == RnnMode.Lstm && rng.Next(2) == 0)
        {
            double a = 0.3 + rng.NextDouble();
            clip = new RnnCellClip(-a, a * (0.5 + rng.NextDouble()), rng.Next(2) == 0 ? ClipNanMode.Propagate : ClipNanMode.NotPropagate);
        }
        var rnn = new RnnDescriptor(mode, input, hidden, layers, direction, proj, bias,
            skip ? RnnInputMode.Skip : RnnInputMode.Linear, dataType, dropout, (ulong)rng.NextInt64(), clip);

        var layout = (RnnDataLayout)rng.Next(3);
        int T = rng.Next(1, 9), B = rng.Next(1, 6);
        var lengths = Enumerable.Range(0, B).Select(_ => rng.Next(1, T + 1)).ToArray();
        lengths[rng.Next(B)] = T;
        if (layout == RnnDataLayout.SeqMajorPacked) Array.Sort(lengths, (p, q) => q.CompareTo(p));
        double fill = rng.Next(2) == 0 ? 0.0 : -1.25;
        return (rnn, new RnnDataDescriptor(layout, T, B, input, lengths, fill));
    }

    private void Run<T>(int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ocl = SharedOpenCl.Require();
        if (!ocl.Supports(RnnDescriptor.DataTypeOf<T>(), out var why)) Assert.Skip(why!);
        using var cpu = new CpuEngine();
        var (rnn, xDesc) = RandomConfiguration(seed, RnnDescriptor.DataTypeOf<T>());
        output.WriteLine($"{rnn} | {xDesc}");

        var rng = new Random(seed * 7919 + 17);
        var layout = RnnWeightLayout.Canonical(rnn);
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        long hElems = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.StateSize;
        long cElems = rnn.Mode == RnnMode.Lstm ? (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.HiddenSize : 0;
        bool lstm = rnn.Mode == RnnMode.Lstm;

        // Padded positions of x and dy hold NaN: an engine that reads them poisons its outputs and fails.
        var x = SequenceData<T>(rng, xDesc);
        var dy = SequenceData<T>(rng, yDesc);
        var w = Uniform<T>(rng, layout.TotalElements, 0.5);
        var dw0 = Uniform<T>(rng, layout.TotalElements, 0.1); // backward weights accumulates onto this
        T[]? hx = rng.Next(4) == 0 ? null : Uniform<T>(rng, hElems, 1);
        T[]? dhy = rng.Next(4) == 0 ? null : Uniform<T>(rng, hElems, 1);
        T[]? cx = lstm && rng.Next(4) != 0 ? Uniform<T>(rng, cElems, 1) : null;
        T[]? dcy = lstm && rng.Next(4) != 0 ? Uniform<T>(rng, cElems, 1) : null;

        var expected = Compute(cpu, rnn, xDesc, x, dy, w, dw0, hx, dhy, cx, dcy);
        var actual = Compute(ocl, rnn, xDesc, x, dy, w, dw0, hx, dhy, cx, dcy);

        // Tolerances: Tolerance.Relative bounds one engine's rounding error against the exact result (k·ε·⌈log2 K⌉·depth,
        // forward k = 4, gradients k = 8, weight gradients with K including the rows summed). Here both sides are rounded
        // computations in the same precision with different summation orders and libm, so their difference is bounded
        // by the sum of the two bounds: 2 × rtol.
        double eps = Tolerance.Epsilon<T>();
        long n = xDesc.TotalSteps; int steps = xDesc.MaxSeqLength;
        double fwd = 2 * Tolerance.Relative(rnn, steps, n, eps, backward: false);
        double bwd = 2 * Tolerance.Relative(rnn, steps, n, eps, backward: true);
        double wgt = 2 * Tolerance.Relative(rnn, steps, n, eps, backward: true, weightGradient: true);
        var failures = new List<string>();
        foreach (var (name, e) in expected)
        {
            double rtol = name == "dw" ? wgt : name is "y" or "hy" or "cy" or "yInference" or "hyInference" ? fwd : bwd;
            var cmp = TensorComparison.Compare(name, name, actual[name], e, rtol);
            output.WriteLine(cmp.ToString());
            if (!cmp.Passed) failures.Add(cmp.ToString());
        }
        Assert.True(failures.Count == 0, $"seed {seed} [{typeof(T).Name}] {rnn} | {xDesc}: {string.Join("; ", failures)}");
    }

    /// <summary>Runs inference forward, two training forwards (the second uses the next dropout masks), backward data and
    /// backward weights (Add onto dw0) on one engine; returns every output as double.</summary>
    private static Dictionary<string, double[]> Compute<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc,
        T[] x, T[] dy, T[] w, T[] dw0, T[]? hx, T[]? dhy, T[]? cx, T[]? dcy) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        using var bx = Upload(engine, x);
        using var bdy = Upload(engine, dy);
        using var bw = Upload(engine, w);
        using var bdw = Upload(engine, dw0);
        using var bhx = hx is null ? null : Upload(engine, hx);
        using var bdhy = dhy is null ? null : Upload(engine, dhy);
        using var bcx = cx is null ? null : Upload(engine, cx);
        using var bdcy = dcy is null ? null : Upload(engine, dcy);
        using var y = engine.Allocate<T>(plan.YDesc.ElementCount);
        using var dx = engine.Allocate<T>(xDesc.ElementCount);
        using var hy = engine.Allocate<T>(plan.HiddenStateElements);
        using var dhx = engine.Allocate<T>(plan.HiddenStateElements);
        using var cy = lstm ? engine.Allocate<T>(plan.CellStateElements) : null;
        using var dcx = lstm ? engine.Allocate<T>(plan.CellStateElements) : null;
        using var reserve = plan.CreateReserve();
        // Poison every output so that an element an engine forgets to write shows up.
        foreach (var b in new[] { y, dx, hy, dhx, cy, dcx }) b?.Fill(T.NaN);

        var r = new Dictionary<string, double[]>();
        plan.Forward(RnnForwardMode.Inference, bx, y, bhx, hy, bcx, cy, bw, null);
        r["yInference"] = D(y);
        r["hyInference"] = D(hy);
        plan.Forward(RnnForwardMode.Training, bx, y, bhx, hy, bcx, cy, bw, reserve);
        plan.Forward(RnnForwardMode.Training, bx, y, bhx, hy, bcx, cy, bw, reserve); // dropout counter 1
        plan.BackwardData(y, bdy, dx, bhx, bdhy, dhx, bcx, bdcy, dcx, bw, reserve);
        plan.BackwardWeights(WeightGradMode.Add, bx, bhx, y, bdw, reserve);
        r["y"] = D(y);
        r["hy"] = D(hy);
        r["dx"] = D(dx);
        r["dhx"] = D(dhx);
        if (lstm)
        {
            r["cy"] = D(cy!);
            r["dcx"] = D(dcx!);
        }
        r["dw"] = D(bdw);
        return r;
    }

    private static double[] D<T>(RnnBuffer<T> b) where T : unmanaged, IFloatingPointIeee754<T> =>
        b.ToArray().Select(v => double.CreateChecked(v)).ToArray();

    private static RnnBuffer<T> Upload<T>(IRnnEngine engine, T[] data) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var b = engine.Allocate<T>(data.Length);
        b.CopyFrom(data);
        return b;
    }

    private static T[] Uniform<T>(Random rng, long count, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new T[count];
        for (long i = 0; i < count; i++) a[i] = T.CreateChecked((2 * rng.NextDouble() - 1) * scale);
        return a;
    }

    private static T[] SequenceData<T>(Random rng, RnnDataDescriptor desc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new T[desc.ElementCount];
        Array.Fill(a, T.NaN);
        for (int t = 0; t < desc.MaxSeqLength; t++)
            for (int b = 0; b < desc.Batch; b++)
            {
                long o = desc.Offset(t, b);
                if (o < 0) continue;
                for (int k = 0; k < desc.VectorSize; k++) a[o + k] = T.CreateChecked(2 * rng.NextDouble() - 1);
            }
        return a;
    }
}
