using System.Numerics;
using CudnnRnn.Verification;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// Golden cases in 16-bit storage: the inputs (x, hx, cx, dy, dhy, dcy, weights) rounded to the 16-bit type, one training
/// pass (forward, backward data, backward weights adding into zeros) on any engine and element type, every output back
/// in the golden layout as double.
/// </summary>
internal static class Golden16
{
    private static readonly string[] Inputs = ["x", "hx", "cx", "dy", "dhy", "dcy"];

    /// <summary>The case's inputs and parameters rounded to <typeparamref name="T16"/> (as double, exactly).</summary>
    public static Dictionary<string, double[]> RoundedInputs<T16>(GoldenCase g) where T16 : unmanaged, IFloatingPointIeee754<T16>
    {
        var r = new Dictionary<string, double[]>();
        foreach (var name in Inputs.Concat(g.ParameterNames))
            if (g.Tensors.TryGetValue(name, out var t))
                r[name] = t.Data.Select(v => double.CreateChecked(T16.CreateChecked(v))).ToArray();
        return r;
    }

    /// <summary>Runs one pass of <paramref name="g"/>'s network with <paramref name="inputs"/> in element type T.</summary>
    public static Dictionary<string, double[]> Run<T>(IRnnEngine engine, GoldenCase g, RnnDataLayout layout, Dictionary<string, double[]> inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnn = g.Rnn.WithDataType(RnnDescriptor.DataTypeOf<T>());
        var io = new SequenceIo(g.SeqLengths, g.MaxSeqLength, layout);
        var xDesc = io.Descriptor(rnn.InputSize);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        var layoutW = plan.WeightLayout;
        var ws = new T[layoutW.TotalElements];
        foreach (var p in layoutW.PyTorchParameters)
            layoutW.ImportPyTorch<T>(ws, p.Name, inputs[p.Name].Select(T.CreateChecked).ToArray());
        using var pass = new PassBuffers<T>(plan, io.ToEngine<T>(inputs["x"], rnn.InputSize), ws,
            io.StateToEngine<T>(inputs["hx"], rnn.StateSize), lstm ? io.StateToEngine<T>(inputs["cx"], rnn.HiddenSize) : null,
            io.ToEngine<T>(inputs["dy"], rnn.OutputSize), io.StateToEngine<T>(inputs["dhy"], rnn.StateSize),
            lstm ? io.StateToEngine<T>(inputs["dcy"], rnn.HiddenSize) : null);
        pass.Dw.Clear();
        pass.RunTraining(WeightGradMode.Add);
        var r = new Dictionary<string, double[]>
        {
            ["y"] = io.FromEngine(pass.Y.ToArray(), rnn.OutputSize),
            ["hy"] = io.StateFromEngine(pass.Hy.ToArray(), rnn.StateSize),
            ["dx"] = io.FromEngine(pass.Dx.ToArray(), rnn.InputSize),
            ["dhx"] = io.StateFromEngine(pass.Dhx.ToArray(), rnn.StateSize),
        };
        if (lstm)
        {
            r["cy"] = io.StateFromEngine(pass.Cy!.ToArray(), rnn.HiddenSize);
            r["dcx"] = io.StateFromEngine(pass.Dcx!.ToArray(), rnn.HiddenSize);
        }
        var dw = pass.Dw.ToArray();
        foreach (var p in layoutW.PyTorchParameters)
        {
            var v = new T[p.Count];
            layoutW.ExportPyTorch<T>(dw, p.Name, v);
            r["grad." + p.Name] = v.Select(e => double.CreateChecked(e)).ToArray();
        }
        return r;
    }
}

/// <summary>
/// The 16-bit comparison: an element passes when <c>|a − e| ≤ k·u·|e| + rtol32·(|e| + scale) + k·tiny</c>, with u the
/// storage type's unit roundoff (fp16 2⁻¹¹, bf16 2⁻⁸), rtol32 the float32 arithmetic bound of
/// <see cref="Tolerance.Relative"/> (machine epsilon 2⁻²³, dot length, depth), tiny half the smallest positive subnormal
/// of the storage type, and k the number of independent 16-bit roundings between the two sides. NaN never passes.
/// </summary>
internal sealed record Check16(string Name, double MaxAbs, double Scale, int WorstIndex, double WorstActual, double WorstExpected, bool Passed)
{
    public static Check16 Compare(string name, double[] actual, double[] expected, double u, double tiny, int roundings, double rtol32)
    {
        if (actual.Length != expected.Length) throw new ArgumentException($"'{name}': {actual.Length} values vs {expected.Length}.");
        double scale = expected.Length == 0 ? 0 : expected.Max(Math.Abs);
        double maxAbs = 0, worstMargin = double.NegativeInfinity;
        int worst = -1;
        bool passed = true;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            double e = Math.Abs(expected[i]);
            double tol = roundings * (u * e + tiny) + rtol32 * (e + scale);
            if (err > tol) passed = false;
            maxAbs = Math.Max(maxAbs, err);
            if (err - tol > worstMargin) { worstMargin = err - tol; worst = i; }
        }
        return new Check16(name, maxAbs, scale, worst, worst >= 0 ? actual[worst] : 0, worst >= 0 ? expected[worst] : 0, passed);
    }

    /// <summary>Worst error relative to the tensor's scale.</summary>
    public double RelativeToScale => Scale > 0 ? MaxAbs / Scale : MaxAbs;

    public override string ToString() =>
        $"{Name}: max|a-e| {MaxAbs:E2} (scale {Scale:E2}, rel {RelativeToScale:E2}){(Passed ? "" : $" FAILED at [{WorstIndex}]: {WorstActual:R} vs {WorstExpected:R}")}";
}

/// <summary>Storage facts of the 16-bit types.</summary>
internal static class Storage16
{
    /// <summary>Unit roundoff: half the distance from 1 to the next value (fp16 2⁻¹¹, bf16 2⁻⁸).</summary>
    public static double UnitRoundoff<T>() where T : unmanaged, IFloatingPointIeee754<T> => Tolerance.Epsilon<T>() / 2;

    /// <summary>Half the smallest positive subnormal: the worst absolute rounding error below the normal range.</summary>
    public static double Tiny<T>() where T : unmanaged, IFloatingPointIeee754<T> => double.CreateChecked(T.Epsilon) / 2;
}
