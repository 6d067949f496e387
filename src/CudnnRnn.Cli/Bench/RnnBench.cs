using System.Numerics;

namespace CudnnRnn.Cli.Bench;

/// <summary>
/// Times one shape on one engine, libtorch-bench's two phases: forward_inference (forward, no reserve) and
/// forward_backward (training forward + BackwardData + BackwardWeights, hx/cx given and dhx/dcx produced, as
/// libtorch's backward of sum(y·dy) with x, h0, c0 requiring grad). Plans, buffers and the reserve are created once,
/// outside the timed region.
/// </summary>
internal static class RnnBench
{
    public static (BenchResult Inference, BenchResult Training) Run<T>(IRnnEngine engine, BenchShape shape, bool varied,
        int threads, int warmup, int reps, RnnDataLayout layout = RnnDataLayout.SeqMajorUnpacked) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnn = shape.Descriptor(RnnDescriptor.DataTypeOf<T>());
        int[] lengths = shape.Lengths(varied);
        if (layout == RnnDataLayout.SeqMajorPacked) Array.Sort(lengths, (a, b) => b.CompareTo(a));  // packed: longest first
        var xDesc = new RnnDataDescriptor(layout, shape.T, shape.Batch, shape.Input, lengths);
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var rng = new Random(1234);
        double scale = 1.0 / Math.Sqrt(shape.Hidden);   // PyTorch's weight init range

        using var x = Random<T>(engine, plan.XDesc.ElementCount, rng, 1.0);
        using var y = engine.Allocate<T>(plan.YDesc.ElementCount);
        using var dy = Random<T>(engine, plan.YDesc.ElementCount, rng, 1.0);
        using var dx = engine.Allocate<T>(plan.XDesc.ElementCount);
        using var hx = Random<T>(engine, plan.HiddenStateElements, rng, 1.0);
        using var hy = engine.Allocate<T>(plan.HiddenStateElements);
        using var dhx = engine.Allocate<T>(plan.HiddenStateElements);
        using var cx = lstm ? Random<T>(engine, plan.CellStateElements, rng, 1.0) : null;
        using var cy = lstm ? engine.Allocate<T>(plan.CellStateElements) : null;
        using var dcx = lstm ? engine.Allocate<T>(plan.CellStateElements) : null;
        using var w = Random<T>(engine, plan.WeightLayout.TotalElements, rng, scale);
        using var dw = engine.Allocate<T>(plan.WeightLayout.TotalElements);
        using var reserve = plan.CreateReserve();

        var inf = BenchTimer.Measure(() =>
        {
            plan.Forward(RnnForwardMode.Inference, x, y, hx, hy, cx, cy, w, null);
            engine.Synchronize();  // a GPU engine returns once the work is queued
        }, warmup, reps);
        var train = BenchTimer.Measure(() =>
        {
            plan.Forward(RnnForwardMode.Training, x, y, hx, hy, cx, cy, w, reserve);
            plan.BackwardData(y, dy, dx, hx, null, dhx, cx, null, dcx, w, reserve);
            plan.BackwardWeights(WeightGradMode.Add, x, hx, y, dw, reserve);
            engine.Synchronize();
        }, warmup, reps);

        // GPU engines: the host's share of an inference forward, i.e. 20 calls queued back to back (no wait in between)
        // divided by 20. Close to the synchronised time means the host, not the GPU, sets the pace.
        double? hostMs = null;
        if (!engine.IsHostMemory)
        {
            engine.Synchronize();
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; i < 20; i++) plan.Forward(RnnForwardMode.Inference, x, y, hx, hy, cx, cy, w, null);
            hostMs = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds / 20;
            engine.Synchronize();
        }

        double flops = shape.ForwardFlops(lengths);
        string lens = varied ? "varied" : "full";
        // What backward cannot do without: every step's gate activations, plus the cell states for LSTM.
        long minimum = (long)xDesc.TotalSteps * rnn.PseudoLayerCount * (rnn.Gates * rnn.HiddenSize + (lstm ? rnn.HiddenSize : 0))
            * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        long peak = System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64;
        return (new BenchResult("rnn", shape.Id, threads, "forward_inference", lens, inf.MedianMs, inf.MinMs, inf.Reps, flops) { PeakWorkingSetBytes = peak, HostEnqueueMs = hostMs },
                new BenchResult("rnn", shape.Id, threads, "forward_backward", lens, train.MedianMs, train.MinMs, train.Reps, 3 * flops)
                { ReserveBytes = reserve.Bytes, ReserveMinimumBytes = minimum, PeakWorkingSetBytes = peak });
    }

    private static RnnBuffer<T> Random<T>(IRnnEngine engine, long length, Random rng, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var host = new T[length];
        for (long i = 0; i < length; i++) host[i] = T.CreateChecked((rng.NextDouble() * 2 - 1) * scale);
        var buffer = engine.Allocate<T>(length);
        buffer.CopyFrom(host);
        return buffer;
    }
}
