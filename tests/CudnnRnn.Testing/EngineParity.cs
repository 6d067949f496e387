using System.Numerics;
using CudnnRnn.Cpu;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Testing;

/// <summary>
/// An engine against the CPU reference on one network and data shape, with the same strictness on every engine: an
/// inference forward, two training forwards (the second uses the next dropout masks), backward data and backward weights
/// added onto a non-zero dW; optional hx/cx/dhy/dcy drawn per seed. Padded positions of x and dy hold NaN (an engine that
/// reads them poisons its outputs), every output starts as NaN (an element an engine forgets to write shows up), y and dx
/// are compared with their padding, and the padding must be exactly what the engines promise: the padding fill in y, 0 in
/// dx. Weights go in and come out as PyTorch parameters, so engines with different weight layouts compare.
/// </summary>
public static class EngineParity
{
    /// <summary>Runs both engines and asserts every tensor and the padding; the report goes to <paramref name="output"/>.</summary>
    /// <param name="engine">The engine under test.</param><param name="rnn">The network.</param><param name="xDesc">The data shape.</param>
    /// <param name="seed">Seed of the data.</param><param name="output">Where the report goes.</param>
    /// <param name="intermediateRounding">16-bit types only: the engine also stores intermediates in 16 bits (see
    /// <see cref="HalfPrecision.ParityTolerances"/>); the CPU reference computes in float and rounds only its outputs.</param>
    public static void AssertMatchesCpu<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, int seed, ITestOutputHelper? output = null,
        bool intermediateRounding = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        output?.WriteLine($"{rnn} | {xDesc} on {engine.Name}");
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        var data = ParityInputs.Draw(rnn, xDesc, seed);
        using var cpu = CpuEngine.Create();
        var expected = data.Run<T>(cpu, rnn, xDesc, T.CreateChecked);
        var actual = data.Run<T>(engine, rnn, xDesc, T.CreateChecked);

        var failures = new List<string>();
        // The engines' promises at padded positions, exactly (the reference's too).
        foreach (var (who, r) in new[] { ("reference", expected), (engine.Name, actual) })
        {
            foreach (var name in new[] { "y", "yInference" })
                if (PaddingError(r[name], yDesc, yDesc.PaddingFill) is { } e) failures.Add($"{who} {name} padding: {e}");
            if (PaddingError(r["dx"], xDesc, 0) is { } dxe) failures.Add($"{who} dx padding: {dxe}");
        }

        // Tolerances: Tolerance.Relative bounds one engine's rounding error against the exact result (k·ε·⌈log2 K⌉·depth,
        // forward k = 4, gradients k = 8, weight gradients with K including the rows summed). Both sides are rounded
        // computations in the same precision with different summation orders and libm, so their difference is bounded by
        // the sum of the two bounds: 2 × rtol.
        // 16-bit storage: float arithmetic on both sides, each output rounded once (HalfPrecision.ParityTolerances).
        double eps = Tolerance.Epsilon<T>();
        long n = xDesc.TotalSteps; int steps = xDesc.MaxSeqLength;
        var tol = rnn.DataType is RnnDataType.Float16 or RnnDataType.BFloat16
            ? HalfPrecision.ParityTolerances(rnn, steps, n, rnn.DataType, intermediateRounding)
            : new GroupTolerances(2 * Tolerance.Relative(rnn, steps, n, eps, backward: false),
                2 * Tolerance.Relative(rnn, steps, n, eps, backward: true),
                2 * Tolerance.Relative(rnn, steps, n, eps, backward: true, weightGradient: true), 0);
        foreach (var (name, e) in expected)
        {
            var cmp = TensorComparison.Compare(name, name, actual[name], e, tol.For(name), tol.Absolute);
            output?.WriteLine(cmp.ToString());
            if (!cmp.Passed) failures.Add(cmp.ToString());
        }
        Assert.True(failures.Count == 0, $"seed {seed} [{typeof(T).Name}] {rnn} | {xDesc} on {engine.Name}: {string.Join("; ", failures)}");
    }

    /// <summary>The first padded element of an unpacked layout that is not exactly <paramref name="fill"/>, or null.</summary>
    public static string? PaddingError(double[] data, RnnDataDescriptor d, double fill)
    {
        if (!d.IsUnpacked) return null;
        for (int t = 0; t < d.MaxSeqLength; t++)
            for (int b = 0; b < d.Batch; b++)
            {
                if (t < d.SeqLengths[b]) continue;
                long o = d.PaddedOffset(t, b);
                for (int k = 0; k < d.VectorSize; k++)
                    if (!data[o + k].Equals(fill))
                        return $"(t {t}, b {b}, element {k}) is {data[o + k]:R}; expected exactly {fill:R}";
            }
        return null;
    }

    /// <summary>
    /// One engine's pass (inference first, two training forwards, backward data, backward weights Add onto dW0): every
    /// output as double, the weight gradient per PyTorch parameter.
    /// </summary>
    public static Dictionary<string, double[]> Run<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc,
        Dictionary<string, T[]> w, Dictionary<string, T[]> dw0, T[] x, T[] dy, T[]? hx, T[]? dhy, T[]? cx, T[]? dcy)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var layout = engine.GetWeightLayout(rnn);
        T[] Pack(Dictionary<string, T[]> parameters)
        {
            var ws = new T[layout.TotalElements];
            foreach (var (name, values) in parameters) layout.ImportPyTorch<T>(ws, name, values);
            return ws;
        }
        var p = Pass<T>.Run(engine, rnn, xDesc, Pack(w), x, hx, cx, dy, dhy, dcy,
            new PassOptions<T> { InferenceFirst = true, TrainingForwards = 2, InitialDw = Pack(dw0) });
        static double[] D(T[] a) => a.Select(v => double.CreateChecked(v)).ToArray();
        var r = new Dictionary<string, double[]>
        {
            ["yInference"] = D(p.YInference), ["hyInference"] = D(p.HyInference),
            ["y"] = D(p.Y), ["hy"] = D(p.Hy), ["dx"] = D(p.Dx), ["dhx"] = D(p.Dhx),
        };
        if (rnn.Mode == RnnMode.Lstm) { r["cy"] = D(p.Cy); r["dcx"] = D(p.Dcx); }
        foreach (var param in layout.PyTorchParameters)
        {
            var g = new T[param.Count];
            layout.ExportPyTorch<T>(p.Dw, param.Name, g);
            r["grad." + param.Name] = D(g);
        }
        return r;
    }
}

/// <summary>
/// The random inputs of one parity case, drawn as double from the seed (weights and dW0 by PyTorch name, x and dy with
/// NaN at padded positions, hx/dhy/cx/dcy each present or absent by draw), and the pass that runs them on an engine in
/// any element type.
/// </summary>
public sealed record ParityInputs(Dictionary<string, double[]> W, Dictionary<string, double[]> Dw0, double[] X, double[] Dy,
    double[]? Hx, double[]? Dhy, double[]? Cx, double[]? Dcy)
{
    /// <summary>The inputs of <paramref name="seed"/>.</summary>
    public static ParityInputs Draw(RnnDescriptor rnn, RnnDataDescriptor xDesc, int seed)
    {
        var rng = new Random(seed * 7919 + 17);
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        long hElems = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.StateSize;
        long cElems = rnn.Mode == RnnMode.Lstm ? (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.HiddenSize : 0;
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var names = RnnWeightLayout.Canonical(rnn).PyTorchParameters;
        var w = names.ToDictionary(p => p.Name, p => Uniform(rng, p.Count, 0.5));
        var dw0 = names.ToDictionary(p => p.Name, p => Uniform(rng, p.Count, 0.1)); // backward weights adds onto this
        var x = SequenceData(rng, xDesc);
        var dy = SequenceData(rng, yDesc);
        double[]? hx = rng.Next(4) == 0 ? null : Uniform(rng, hElems, 1);
        double[]? dhy = rng.Next(4) == 0 ? null : Uniform(rng, hElems, 1);
        double[]? cx = lstm && rng.Next(4) != 0 ? Uniform(rng, cElems, 1) : null;
        double[]? dcy = lstm && rng.Next(4) != 0 ? Uniform(rng, cElems, 1) : null;
        return new ParityInputs(w, dw0, x, dy, hx, dhy, cx, dcy);
    }

    /// <summary>
    /// <see cref="EngineParity.Run{T}"/> on these inputs, each value converted with <paramref name="convert"/> (NaN stays
    /// NaN): <c>T.CreateChecked</c> for plain parity, or a rounding through a 16-bit type first.
    /// </summary>
    public Dictionary<string, double[]> Run<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, Func<double, T> convert)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] C(double[] a) => a.Select(v => double.IsNaN(v) ? T.NaN : convert(v)).ToArray();
        T[]? Co(double[]? a) => a is null ? null : C(a);
        Dictionary<string, T[]> Cd(Dictionary<string, double[]> d) => d.ToDictionary(kv => kv.Key, kv => C(kv.Value));
        return EngineParity.Run(engine, rnn, xDesc, Cd(W), Cd(Dw0), C(X), C(Dy), Co(Hx), Co(Dhy), Co(Cx), Co(Dcy));
    }

    private static double[] Uniform(Random rng, long count, double scale)
    {
        var a = new double[count];
        for (long i = 0; i < count; i++) a[i] = (2 * rng.NextDouble() - 1) * scale;
        return a;
    }

    /// <summary>Random values at the valid positions; NaN at padded ones.</summary>
    private static double[] SequenceData(Random rng, RnnDataDescriptor desc)
    {
        var a = new double[desc.ElementCount];
        Array.Fill(a, double.NaN);
        for (int t = 0; t < desc.MaxSeqLength; t++)
            for (int b = 0; b < desc.Batch; b++)
            {
                long o = desc.Offset(t, b);
                if (o < 0) continue;
                for (int k = 0; k < desc.VectorSize; k++) a[o + k] = 2 * rng.NextDouble() - 1;
            }
        return a;
    }
}
