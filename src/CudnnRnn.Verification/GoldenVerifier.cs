using System.Numerics;

namespace CudnnRnn.Verification;

/// <summary>The result of running one golden case on one engine.</summary>
public sealed record GoldenResult(string Case, string Engine, RnnDataType DataType, RnnDataLayout Layout, IReadOnlyList<TensorComparison> Tensors)
{
    /// <summary>True when every tensor passed.</summary>
    public bool Passed => Tensors.All(t => t.Passed);

    /// <summary>Worst comparison per tensor group (y, hy, cy, dx, dhx, dcx, dw), by error relative to the tolerance.</summary>
    public IEnumerable<TensorComparison> WorstPerGroup =>
        Tensors.GroupBy(t => t.Group).Select(g => g.OrderByDescending(t => t.Passed ? 0 : 1).ThenByDescending(t => t.RelativeToScale).First());
}

/// <summary>
/// Runs a golden case (x, hx, cx, weights by PyTorch name, dy, dhy, dcy) through forward-training, backward-data and
/// backward-weights on any engine, in any layout and element type, and compares y, hy, cy, dx, dhx, dcx and every
/// weight gradient with the reference, using <see cref="Tolerance"/>.
/// </summary>
public static class GoldenVerifier
{
    /// <summary>Runs <paramref name="golden"/> on <paramref name="engine"/>.</summary>
    public static GoldenResult Run<T>(IRnnEngine engine, GoldenCase golden, RnnDataLayout layout = RnnDataLayout.SeqMajorUnpacked)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(golden);
        var rnn = golden.Rnn.WithDataType(RnnDescriptor.DataTypeOf<T>());
        var io = new SequenceIo(golden.SeqLengths, golden.MaxSeqLength, layout);
        var xDesc = io.Descriptor(rnn.InputSize);
        var outputs = RunNetwork<T>(engine, rnn, xDesc, io, golden);

        double eps = Tolerance.Epsilon<T>();
        int n = checked((int)xDesc.TotalSteps), T_ = golden.MaxSeqLength;
        double fwd = Tolerance.Relative(rnn, T_, n, eps, backward: false);
        double bwd = Tolerance.Relative(rnn, T_, n, eps, backward: true);
        double wgt = Tolerance.Relative(rnn, T_, n, eps, backward: true, weightGradient: true);
        var list = new List<TensorComparison>();
        foreach (var (name, values) in outputs)
        {
            bool isWeight = name.StartsWith("grad.", StringComparison.Ordinal);
            string group = isWeight ? "dw" : name;
            double rtol = isWeight ? wgt : name is "y" or "hy" or "cy" ? fwd : bwd;
            list.Add(TensorComparison.Compare(name, group, values, golden.Get(name).Data, rtol));
        }
        return new GoldenResult(golden.Name, engine.Name, rnn.DataType, layout, list);
    }

    /// <summary>Runs the three calls and returns every output in the golden layout (seq-major, golden batch order).</summary>
    internal static List<(string, double[])> RunNetwork<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, SequenceIo io, GoldenCase g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        var layout = plan.WeightLayout;
        var ws = new T[layout.TotalElements];
        foreach (var p in layout.PyTorchParameters) layout.ImportPyTorch<T>(ws, p.Name, Cast<T>(g.Get(p.Name).Data));
        bool lstm = rnn.Mode == RnnMode.Lstm;

        using var pass = new PassBuffers<T>(plan, io.ToEngine<T>(g.Get("x").Data, rnn.InputSize), ws,
            io.StateToEngine<T>(g.Get("hx").Data, rnn.StateSize), lstm ? io.StateToEngine<T>(g.Get("cx").Data, rnn.HiddenSize) : null,
            io.ToEngine<T>(g.Get("dy").Data, rnn.OutputSize), io.StateToEngine<T>(g.Get("dhy").Data, rnn.StateSize),
            lstm ? io.StateToEngine<T>(g.Get("dcy").Data, rnn.HiddenSize) : null);
        // ADD into a zeroed buffer, as cuDNN's users do (API.md §8).
        pass.Dw.Clear();
        pass.RunTraining(WeightGradMode.Add);
        RnnBuffer<T> y = pass.Y, hy = pass.Hy, dx = pass.Dx, dhx = pass.Dhx, dw = pass.Dw;
        RnnBuffer<T>? cy = pass.Cy, dcx = pass.Dcx;

        var result = new List<(string, double[])>
        {
            ("y", io.FromEngine(y.ToArray(), rnn.OutputSize)),
            ("hy", io.StateFromEngine(hy.ToArray(), rnn.StateSize)),
            ("dx", io.FromEngine(dx.ToArray(), rnn.InputSize)),
            ("dhx", io.StateFromEngine(dhx.ToArray(), rnn.StateSize)),
        };
        if (lstm)
        {
            result.Add(("cy", io.StateFromEngine(cy!.ToArray(), rnn.HiddenSize)));
            result.Add(("dcx", io.StateFromEngine(dcx!.ToArray(), rnn.HiddenSize)));
        }
        var dws = dw.ToArray();
        foreach (var p in layout.PyTorchParameters)
        {
            var v = new T[p.Count];
            layout.ExportPyTorch<T>(dws, p.Name, v);
            result.Add(("grad." + p.Name, v.Select(e => double.CreateChecked(e)).ToArray()));
        }
        return result;
    }

    internal static T[] Cast<T>(double[] d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new T[d.Length];
        for (int i = 0; i < d.Length; i++) r[i] = T.CreateChecked(d[i]);
        return r;
    }
}

/// <summary>
/// Converts sequence data between the golden/PyTorch form (seq-major [T, B, V], original batch order, zeros at padding)
/// and any engine layout; for the packed layout the batch is sorted by length (stable, descending), and state tensors
/// [L·D, B, W] are permuted the same way.
/// </summary>
public sealed class SequenceIo
{
    private readonly int[] _lengths;
    private readonly int[] _perm; // engine batch position -> original batch index

    /// <summary>Creates the converter.</summary>
    public SequenceIo(int[] seqLengths, int maxSeqLength, RnnDataLayout layout)
    {
        ArgumentNullException.ThrowIfNull(seqLengths);
        _lengths = seqLengths;
        MaxSeqLength = maxSeqLength;
        Layout = layout;
        _perm = layout == RnnDataLayout.SeqMajorPacked
            ? Enumerable.Range(0, seqLengths.Length).OrderByDescending(b => seqLengths[b]).ThenBy(b => b).ToArray()
            : Enumerable.Range(0, seqLengths.Length).ToArray();
    }

    /// <summary>Steps.</summary>
    public int MaxSeqLength { get; }
    /// <summary>Engine layout.</summary>
    public RnnDataLayout Layout { get; }
    /// <summary>Batch size.</summary>
    public int Batch => _lengths.Length;
    /// <summary>Engine batch position → original batch index.</summary>
    public ReadOnlySpan<int> Permutation => _perm;

    /// <summary>The engine-side data descriptor for vectors of width <paramref name="vectorSize"/>.</summary>
    public RnnDataDescriptor Descriptor(int vectorSize) =>
        new(Layout, MaxSeqLength, Batch, vectorSize, _perm.Select(b => _lengths[b]).ToArray());

    /// <summary>Seq-major [T, B, V] (original order) → engine layout.</summary>
    public T[] ToEngine<T>(ReadOnlySpan<double> seqMajor, int v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var desc = Descriptor(v);
        var r = new T[desc.ElementCount];
        for (int t = 0; t < MaxSeqLength; t++)
            for (int i = 0; i < Batch; i++)
            {
                long o = desc.Offset(t, i);
                if (o < 0) continue;
                int src = (t * Batch + _perm[i]) * v;
                for (int k = 0; k < v; k++) r[o + k] = T.CreateChecked(seqMajor[src + k]);
            }
        return r;
    }

    /// <summary>Engine layout → seq-major [T, B, V] (original order); padded positions keep what the engine wrote there
    /// (unpacked layouts) or 0 (packed).</summary>
    public double[] FromEngine<T>(ReadOnlySpan<T> data, int v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var desc = Descriptor(v);
        var r = new double[MaxSeqLength * Batch * v];
        for (int t = 0; t < MaxSeqLength; t++)
            for (int i = 0; i < Batch; i++)
            {
                long o = desc.IsUnpacked ? desc.PaddedOffset(t, i) : desc.Offset(t, i);
                if (o < 0) continue;
                int dst = (t * Batch + _perm[i]) * v;
                for (int k = 0; k < v; k++) r[dst + k] = double.CreateChecked(data[(int)o + k]);
            }
        return r;
    }

    /// <summary>State [L·D, B, W] in original order → engine batch order.</summary>
    public T[] StateToEngine<T>(ReadOnlySpan<double> state, int w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int layers = state.Length / (Batch * w);
        var r = new T[state.Length];
        for (int p = 0; p < layers; p++)
            for (int i = 0; i < Batch; i++)
                for (int k = 0; k < w; k++)
                    r[(p * Batch + i) * w + k] = T.CreateChecked(state[(p * Batch + _perm[i]) * w + k]);
        return r;
    }

    /// <summary>State in engine batch order → original order, as double.</summary>
    public double[] StateFromEngine<T>(ReadOnlySpan<T> state, int w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int layers = state.Length / (Batch * w);
        var r = new double[state.Length];
        for (int p = 0; p < layers; p++)
            for (int i = 0; i < Batch; i++)
                for (int k = 0; k < w; k++)
                    r[(p * Batch + _perm[i]) * w + k] = double.CreateChecked(state[(p * Batch + i) * w + k]);
        return r;
    }
}
