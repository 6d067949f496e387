using System.Numerics;
using System.Runtime.InteropServices;

namespace CudnnRnn.Testing;

/// <summary>
/// Plans per shape, lengths per call: runs one plan of a shape through a sequence of calls with different lengths, and
/// the same calls on fresh plans built for each exact set of lengths, so the two can be compared bit for bit.
/// </summary>
public static class LengthsPerCall
{
    /// <summary>Every output of one call sequence (inference forward, training forward, backward data, backward weights).</summary>
    public sealed record Outputs(Dictionary<string, byte[]> Tensors);

    /// <summary>
    /// <paramref name="count"/> seeded sets of lengths for the shape of <paramref name="shape"/> (descending for packed),
    /// each a new descriptor; the first is always the worst case (every length = maxSeqLength).
    /// </summary>
    public static RnnDataDescriptor[] RandomLengthSets(RnnDataDescriptor shape, int count, int seed)
    {
        var rng = new Random(seed);
        var result = new RnnDataDescriptor[count];
        for (int k = 0; k < count; k++)
        {
            var lengths = Enumerable.Range(0, shape.Batch).Select(_ => k == 0 ? shape.MaxSeqLength : rng.Next(1, shape.MaxSeqLength + 1)).ToArray();
            if (shape.Layout == RnnDataLayout.SeqMajorPacked) Array.Sort(lengths, (p, q) => q.CompareTo(p));
            result[k] = new RnnDataDescriptor(shape.Layout, shape.MaxSeqLength, shape.Batch, shape.VectorSize, lengths, shape.PaddingFill);
        }
        return result;
    }

    /// <summary>Seeded weights in the engine's layout.</summary>
    public static T[] Weights<T>(IRnnEngine engine, RnnDescriptor rnn, int seed) where T : unmanaged, IFloatingPointIeee754<T> =>
        Uniform<T>(new Random(seed), engine.GetWeightLayout(rnn).TotalElements, 1 / Math.Sqrt(rnn.HiddenSize));

    /// <summary>
    /// One plan built on <c>calls[0]</c>'s shape (with the lengths <paramref name="planDesc"/>), then for each call i:
    /// an inference forward, a training forward on reserve A, a training forward of the next call's lengths on reserve B
    /// (so the plan's current lengths differ when the backward calls come), backward data and backward weights (Set) on
    /// reserve A with call i's lengths. Training forward i of the plan has dropout counter 2i.
    /// </summary>
    public static List<Outputs> RunShared<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor planDesc, RnnDataDescriptor[] calls,
        T[] weights, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(rnn, planDesc);
        using var w = engine.Upload(weights);
        using var ra = plan.CreateReserve();
        using var rb = plan.CreateReserve();
        var results = new List<Outputs>();
        for (int i = 0; i < calls.Length; i++)
        {
            using var io = new CallBuffers<T>(engine, plan, rnn, calls[i], seed + i);
            var next = calls[(i + 1) % calls.Length];
            using var ioNext = new CallBuffers<T>(engine, plan, rnn, next, seed + 1000 + i);
            results.Add(io.Run(plan, calls[i], w, ra, () =>
                plan.Forward(RnnForwardMode.Training, next, ioNext.X, ioNext.Y, ioNext.Hx, ioNext.Hy, ioNext.Cx, ioNext.Cy, w, rb), dropoutSkips: 0));
        }
        return results;
    }

    /// <summary>Call i of <see cref="RunShared"/> on a fresh plan for its exact lengths, with the same dropout counter.</summary>
    public static Outputs RunFresh<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor call, int index, T[] weights, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(rnn, call);
        using var w = engine.Upload(weights);
        using var ra = plan.CreateReserve();
        using var io = new CallBuffers<T>(engine, plan, rnn, call, seed + index);
        return io.Run(plan, call, w, ra, null, dropoutSkips: 2 * index);
    }

    /// <summary>The first tensor and element where two runs differ in any bit, or null when they are identical.</summary>
    public static string? FirstDifference(Outputs expected, Outputs actual, int elementSize)
    {
        foreach (var (name, e) in expected.Tensors)
        {
            if (!actual.Tensors.TryGetValue(name, out var a)) return $"{name}: missing";
            if (a.Length != e.Length) return $"{name}: {a.Length} bytes, expected {e.Length}";
            int i = e.AsSpan().CommonPrefixLength(a);
            if (i < e.Length) return $"{name}[{i / elementSize}] differs";
        }
        return null;
    }

    private static T[] Uniform<T>(Random rng, long n, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new T[n];
        for (long i = 0; i < n; i++) a[i] = T.CreateChecked((2 * rng.NextDouble() - 1) * scale);
        return a;
    }

    /// <summary>A call's inputs (seeded; padding NaN) and outputs (NaN before the call).</summary>
    private sealed class CallBuffers<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly List<RnnBuffer<T>> _all = [];
        public readonly RnnBuffer<T> X, Y, Dy, Dx, Hx, Hy, Dhy, Dhx;
        public readonly RnnBuffer<T>? Cx, Cy, Dcy, Dcx;

        public CallBuffers(IRnnEngine engine, RnnPlan<T> plan, RnnDescriptor rnn, RnnDataDescriptor d, int seed)
        {
            var rng = new Random(seed);
            var yd = d.WithVectorSize(rnn.OutputSize);
            RnnBuffer<T> Up(T[] v) { var b = engine.Upload(v); _all.Add(b); return b; }
            RnnBuffer<T> Nan(long n) { var v = new T[n]; Array.Fill(v, T.NaN); return Up(v); }
            T[] Data(RnnDataDescriptor dd)
            {
                var a = new T[dd.ElementCount];
                Array.Fill(a, T.NaN);
                for (int t = 0; t < dd.MaxSeqLength; t++)
                    for (int b = 0; b < dd.Batch; b++)
                        if (dd.Offset(t, b) is var o and >= 0)
                            for (int k = 0; k < dd.VectorSize; k++) a[o + k] = T.CreateChecked(2 * rng.NextDouble() - 1);
                return a;
            }
            bool lstm = rnn.Mode == RnnMode.Lstm;
            X = Up(Data(d)); Dy = Up(Data(yd));
            Hx = Up(Uniform<T>(rng, plan.HiddenStateElements, 1)); Dhy = Up(Uniform<T>(rng, plan.HiddenStateElements, 1));
            Y = Nan(yd.ElementCount); Dx = Nan(d.ElementCount); Hy = Nan(plan.HiddenStateElements); Dhx = Nan(plan.HiddenStateElements);
            if (lstm)
            {
                Cx = Up(Uniform<T>(rng, plan.CellStateElements, 1)); Dcy = Up(Uniform<T>(rng, plan.CellStateElements, 1));
                Cy = Nan(plan.CellStateElements); Dcx = Nan(plan.CellStateElements);
            }
        }

        public Outputs Run(RnnPlan<T> plan, RnnDataDescriptor d, RnnBuffer<T> w, RnnReserve<T> r, Action? between, int dropoutSkips)
        {
            var t = new Dictionary<string, byte[]>();
            plan.Forward(RnnForwardMode.Inference, d, X, Y, Hx, Hy, Cx, Cy, w, null);
            Save(t, "yInference", Y); Save(t, "hyInference", Hy);
            for (int k = 0; k < dropoutSkips; k++) plan.Forward(RnnForwardMode.Training, d, X, Y, Hx, Hy, Cx, Cy, w, r);
            Y.Fill(T.NaN); Hy.Fill(T.NaN); Cy?.Fill(T.NaN);
            plan.Forward(RnnForwardMode.Training, d, X, Y, Hx, Hy, Cx, Cy, w, r);
            between?.Invoke();
            plan.BackwardData(d, Y, Dy, Dx, Hx, Dhy, Dhx, Cx, Dcy, Dcx, w, r);
            using var dw = plan.Engine.Allocate<T>(w.Length);
            plan.BackwardWeights(WeightGradMode.Set, d, X, Hx, Y, dw, r);
            Save(t, "y", Y); Save(t, "hy", Hy); Save(t, "dx", Dx); Save(t, "dhx", Dhx); Save(t, "dw", dw);
            if (Cy is not null) { Save(t, "cy", Cy); Save(t, "dcx", Dcx!); }
            return new Outputs(t);
        }

        private static void Save(Dictionary<string, byte[]> t, string name, RnnBuffer<T> b) =>
            t[name] = MemoryMarshal.AsBytes(b.ToArray().AsSpan()).ToArray();

        public void Dispose()
        {
            foreach (var b in _all) b.Dispose();
        }
    }
}
