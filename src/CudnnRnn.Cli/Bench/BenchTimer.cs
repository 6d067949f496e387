using System.Diagnostics;

namespace CudnnRnn.Cli.Bench;

/// <summary>One measured configuration. Field names match libtorch-bench's JSON so tables can join on them.</summary>
/// <remarks>For GEMM entries (Kind "gemm") Phase is the transpose case (NN, NT, TN) and Impl says whose GEMM ran.</remarks>
internal sealed record BenchResult(string Kind, string Shape, int Threads, string Phase, string Lengths,
    double MedianMs, double MinMs, int Reps, double Flops, string Impl = "ours")
{
    /// <summary>Bytes of one reserve space (training only).</summary>
    public long? ReserveBytes { get; init; }
    /// <summary>Theoretical minimum a training forward must save: the gates (and LSTM cell states) of every step.</summary>
    public long? ReserveMinimumBytes { get; init; }
    /// <summary>Process peak working set after the phase.</summary>
    public long? PeakWorkingSetBytes { get; init; }
    /// <summary>GPU engines: host time per call when calls are queued back to back (see RnnBench).</summary>
    public double? HostEnqueueMs { get; init; }
    /// <summary>Layer bench: median over rounds of this variant's time / the engine-buffer variant's time in the same round.</summary>
    public double? RatioToBuffers { get; init; }
    public double Gflops => Flops / (MedianMs * 1e6);
}

/// <summary>Stopwatch timing with libtorch-bench's rule: warm-ups, then at least N reps, more while under 1 s (≤ 50).</summary>
internal static class BenchTimer
{
    /// <summary>
    /// At least <paramref name="warmup"/> calls, and then more until 0.5 s have passed (≤ 200 calls): .NET's tiered JIT
    /// promotes a method to optimised code only after ~30 calls plus a background delay, so a fixed 3 warm-ups of a
    /// millisecond-long call would time tier-0 code (seen here: the first shape measured 2-3x slower than later).
    /// </summary>
    private static void WarmUp(Action run, int warmup)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < warmup; i++) run();
        for (int i = 0; i < 200 && Stopwatch.GetElapsedTime(t0).TotalMilliseconds < 500; i++) run();
    }

    public static (double MedianMs, double MinMs, int Reps) Measure(Action run, int warmup, int minReps, double minTotalMs = 1000, int maxReps = 50)
    {
        WarmUp(run, warmup);
        var times = new List<double>(maxReps);
        double total = 0;
        while (times.Count < minReps || (total < minTotalMs && times.Count < maxReps))
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            times.Add(ms);
            total += ms;
        }
        return (Median(times), times.Min(), times.Count);
    }

    /// <summary>
    /// For sub-millisecond kernels (GEMM): each sample runs <c>inner</c> calls, sized so a sample takes ≥ ~2 ms, as
    /// libtorch-bench does for its sgemm table. Returns per-call times.
    /// </summary>
    public static (double MedianMs, double MinMs, int Reps) MeasureShort(Action run, int warmup, int minReps, double minTotalMs = 300, int maxReps = 200)
    {
        WarmUp(run, warmup);
        long t0 = Stopwatch.GetTimestamp();
        run();
        run();
        double one = Stopwatch.GetElapsedTime(t0).TotalMilliseconds / 2;
        int inner = (int)Math.Clamp(Math.Ceiling(2.0 / Math.Max(one, 1e-4)), 1, 10000);
        var times = new List<double>();
        double total = 0;
        while (times.Count < minReps || (total < minTotalMs && times.Count < maxReps))
        {
            t0 = Stopwatch.GetTimestamp();
            for (int j = 0; j < inner; j++) run();
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            times.Add(ms / inner);
            total += ms;
        }
        return (Median(times), times.Min(), times.Count);
    }

    public static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        int n = s.Length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }
}
