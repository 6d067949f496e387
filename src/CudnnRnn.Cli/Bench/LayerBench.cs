using System.Numerics;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Bench;

/// <summary>
/// <c>cudnnrnn bench --layer</c>: one training step of an <see cref="RnnLayer{T}"/> (forward context + backward +
/// Adam step, hx/cx given and dx/dhx/dcx produced, as the RNN bench's forward_backward phase) timed three ways on the
/// same shape, in one run:
/// <list type="bullet">
/// <item>"layer_buffers": engine buffers end to end, weights updated in place (<see cref="Parameter{T}.Of"/>) — no copy;</item>
/// <item>"layer_host": the host-span convenience overloads (x, hx, cx copied in; y, hy, cy, dx, dhx, dcx copied out),
/// weights still updated in place;</item>
/// <item>"layer_bridge": the host-span overloads plus the bridge this release removed (TrainableRnn): the weight
/// gradient copied to a host parameter, Adam on the host copy, the weights uploaded again.</item>
/// </list>
/// Everything is allocated and warmed up outside the timed region; the variants are timed in interleaved rounds.
/// </summary>
internal static class LayerBench
{
    public static BenchResult[] Run<T>(IRnnEngine engine, BenchShape shape, bool varied, int threads, int warmup, int reps,
        RnnDataLayout layout = RnnDataLayout.SeqMajorUnpacked) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnn = shape.Descriptor(RnnDescriptor.DataTypeOf<T>());
        int[] lengths = shape.Lengths(varied);
        if (layout == RnnDataLayout.SeqMajorPacked) Array.Sort(lengths, (a, b) => b.CompareTo(a));
        var xDesc = new RnnDataDescriptor(layout, shape.T, shape.Batch, shape.Input, lengths);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        using var layer = new RnnLayer<T>(engine, rnn, seed: 1);
        var weights = Parameter<T>.Of(layer);
        using var adam = new Adam<T>([weights], 1e-6); // a tiny rate: the weights stay in range over any number of steps
        var rng = new Random(1234);
        long hElems = (long)rnn.PseudoLayerCount * shape.Batch * rnn.StateSize, cElems = lstm ? (long)rnn.PseudoLayerCount * shape.Batch * rnn.HiddenSize : 0;
        long yElems = xDesc.WithVectorSize(rnn.OutputSize).ElementCount;
        T[] xh = Host<T>(xDesc.ElementCount, rng), hxh = Host<T>(hElems, rng), cxh = Host<T>(cElems, rng), dyh = Host<T>(yElems, rng);
        using var x = engine.Upload<T>(xh);
        using var hx = engine.Upload<T>(hxh);
        using var cx = lstm ? engine.Upload<T>(cxh) : null;
        using var dy = engine.Upload<T>(dyh);
        using var dx = engine.Allocate<T>(xDesc.ElementCount);
        using var dhx = engine.Allocate<T>(hElems);
        using var dcx = lstm ? engine.Allocate<T>(cElems) : null;

        void Buffers()
        {
            adam.ZeroGrad();
            using var context = layer.Forward(xDesc, x, hx, cx);
            layer.Backward(context, dy, null, null, dx, dhx, dcx);
            adam.Step();
            engine.Synchronize();
        }
        void HostSpans()
        {
            adam.ZeroGrad();
            using var context = layer.Forward(xDesc, xh, hxh, cxh);
            var outputs = context.ReadOutputs(); // what a host caller reads: y, hy, cy
            GC.KeepAlive(outputs);
            layer.Backward(context, dyh);
            adam.Step();
            engine.Synchronize();
        }
        var host = new Parameter<T>("rnn", checked((int)layer.WeightLayout.TotalElements));
        layer.Weights.CopyTo(host.Value);
        using var hostAdam = new Adam<T>([host], 1e-6);
        void Bridge()
        {
            layer.ZeroGrad();
            using var context = layer.Forward(xDesc, xh, hxh, cxh);
            GC.KeepAlive(context.ReadOutputs());
            layer.Backward(context, dyh);
            layer.WeightGradients.CopyTo(host.Grad);
            hostAdam.Step();
            layer.Weights.CopyFrom(host.Value);
            engine.Synchronize();
        }

        double flops = 3 * shape.ForwardFlops(lengths);
        string lens = varied ? "varied" : "full";
        string[] phases = ["layer_buffers", "layer_host", "layer_bridge"];
        Action[] steps = [Buffers, HostSpans, Bridge];
        // Warm-up (JIT tiers, pools, plans), then rounds: each round times every variant a few steps, in a rotated order,
        // so that a load change on a shared machine hits all variants alike; medians over all samples, and the median of
        // the per-round ratios (paired within a round).
        foreach (var step in steps)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; i < warmup || (i < 100 && System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds < 500); i++) step();
        }
        int perRound = Math.Max(1, (reps + Rounds - 1) / Rounds);
        var samples = phases.Select(_ => new List<double>()).ToArray();
        var roundMedians = phases.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < Rounds; r++)
        {
            for (int k = 0; k < steps.Length; k++)
            {
                int v = (k + r) % steps.Length;
                var round = new List<double>(perRound);
                for (int i = 0; i < perRound; i++)
                {
                    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                    steps[v]();
                    round.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                samples[v].AddRange(round);
                roundMedians[v].Add(BenchTimer.Median(round));
            }
        }
        var ratios = new double[steps.Length];
        for (int v = 0; v < steps.Length; v++)
            ratios[v] = BenchTimer.Median(Enumerable.Range(0, Rounds).Select(r => roundMedians[v][r] / roundMedians[0][r]).ToList());
        return [.. phases.Select((phase, v) => new BenchResult("layer", shape.Id, threads, phase, lens, BenchTimer.Median(samples[v]), samples[v].Min(), samples[v].Count, flops)
        {
            RatioToBuffers = ratios[v],
        })];
    }

    /// <summary>Rounds of the interleaved measurement.</summary>
    public const int Rounds = 7;

    private static T[] Host<T>(long length, Random rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new T[length];
        for (long i = 0; i < length; i++) a[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        return a;
    }
}
