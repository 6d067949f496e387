using CudnnRnn.Cpu;

namespace CudnnRnn.Verification;

/// <summary>Options of <see cref="GradientChecker"/>.</summary>
public sealed record GradientCheckOptions
{
    /// <summary>Seed of the random inputs, upstream gradients and sample positions.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Random entries checked per tensor (the entry with the largest analytic gradient is always added).</summary>
    public int SamplesPerTensor { get; init; } = 5;
    /// <summary>Central-difference step h.</summary>
    public double Step { get; init; } = 1e-5;
    /// <summary>
    /// Relative budget: a sample passes when <c>|fd − an| ≤ RelativeBudget·max(|fd|, |an|) + atol</c>, with
    /// <c>atol = 10·ε·(1 + |L|)/h</c> (the rounding error of a central difference of a loss of size |L|).
    /// The truncation error of a central difference is O(h²·f''') ≈ 1e-10 relative for h = 1e-5, so 1e-6 leaves four
    /// orders of magnitude for curvature without hiding a wrong gradient (those are off by O(1)).
    /// </summary>
    public double RelativeBudget { get; init; } = 1e-6;
    /// <summary>Pass initial states hx/cx (otherwise null = zeros).</summary>
    public bool UseInitialState { get; init; } = true;
    /// <summary>Pass dhy/dcy (otherwise null = zeros).</summary>
    public bool UseFinalStateGradients { get; init; } = true;
}

/// <summary>One sampled gradient entry.</summary>
public sealed record GradientSample(string Tensor, int Index, double Analytic, double Numeric, double AbsError, double Allowed)
{
    /// <summary>|fd − an| / max(|fd|, |an|) (0 when both are 0).</summary>
    public double RelativeError => Math.Max(Math.Abs(Analytic), Math.Abs(Numeric)) is var m && m > 0 ? AbsError / m : 0;
    /// <summary>Within budget.</summary>
    public bool Passed => AbsError <= Allowed;
}

/// <summary>The result of a gradient check.</summary>
public sealed record GradientCheckReport(RnnDescriptor Rnn, RnnDataDescriptor XDesc, double Loss, IReadOnlyList<GradientSample> Samples)
{
    /// <summary>True when every sample is within budget.</summary>
    public bool Passed => Samples.All(s => s.Passed);
    /// <summary>Largest relative error over samples whose gradient is not negligible (|an| or |fd| above 1e-7).</summary>
    public double WorstRelativeError => Samples.Where(s => Math.Max(Math.Abs(s.Analytic), Math.Abs(s.Numeric)) > 1e-7)
        .Select(s => s.RelativeError).DefaultIfEmpty(0).Max();
    /// <summary>Failing samples, for messages.</summary>
    public IEnumerable<GradientSample> Failures => Samples.Where(s => !s.Passed);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Rnn} on {XDesc}: {Samples.Count} samples, worst rel {WorstRelativeError:E2}" +
        (Passed ? "" : "; FAILED: " + string.Join("; ", Failures.Take(5).Select(f => $"{f.Tensor}[{f.Index}] an {f.Analytic:R} fd {f.Numeric:R}")));
}

/// <summary>
/// Checks an engine's backward pass (dx, dhx, dcx and every weight gradient) against float64 central finite differences
/// of the loss <c>L = Σ y·dy + Σ hy·dhy + Σ cy·dcy</c> with seeded random x, hx, cx, weights, dy, dhy, dcy. Use it in your
/// own CPU-only test runs to gradient-check the configurations you train.
/// </summary>
public static class GradientChecker
{
    /// <summary>Runs the check on <paramref name="engine"/> (default: the CPU engine) in float64.</summary>
    /// <param name="rnn">The network; dropout must be 0 (masks make the loss non-deterministic across calls). Its data
    /// type is taken as float64.</param>
    /// <param name="xDesc">Data shape; VectorSize must equal the input size.</param>
    /// <param name="options">Seed, samples, step and budget.</param>
    /// <param name="engine">Engine to check; null uses a new CPU engine.</param>
    public static GradientCheckReport Check(RnnDescriptor rnn, RnnDataDescriptor xDesc, GradientCheckOptions? options = null, IRnnEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(xDesc);
        if (rnn.Dropout != 0)
            throw new ArgumentException($"Gradient checks need dropout 0 (got {rnn.Dropout}): masks change from one forward to the next.", nameof(rnn));
        options ??= new GradientCheckOptions();
        if (options.SamplesPerTensor < 1) throw new ArgumentOutOfRangeException(nameof(options), options.SamplesPerTensor, "SamplesPerTensor must be at least 1.");
        if (!(options.Step > 0)) throw new ArgumentOutOfRangeException(nameof(options), options.Step, "Step must be positive.");
        rnn = rnn.WithDataType(RnnDataType.Float64);
        bool own = engine is null;
        engine ??= CpuEngine.Create();
        try { return Run(engine, rnn, xDesc, options); }
        finally { if (own) engine.Dispose(); }
    }

    private static GradientCheckReport Run(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, GradientCheckOptions o)
    {
        using var plan = engine.CreatePlan<double>(rnn, xDesc);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var rng = SeededRandom.FromState(o.Seed);
        double U() => 2 * rng.NextDouble() - 1;
        double[] Rand(long n) { var a = new double[n]; for (long i = 0; i < n; i++) a[i] = U(); return a; }
        double[] Data(RnnDataDescriptor d)
        {
            var a = new double[d.ElementCount];
            for (int t = 0; t < d.MaxSeqLength; t++)
                for (int b = 0; b < d.Batch; b++)
                {
                    long off = d.Offset(t, b);
                    if (off >= 0) for (int k = 0; k < d.VectorSize; k++) a[off + k] = U();
                }
            return a;
        }

        var weights = Rand(plan.WeightLayout.TotalElements);
        double wScale = 1.0 / Math.Sqrt(rnn.HiddenSize);
        for (int i = 0; i < weights.Length; i++) weights[i] *= wScale;
        var x = Data(xDesc);
        var hx = o.UseInitialState ? Rand(plan.HiddenStateElements) : null;
        var cx = o.UseInitialState && lstm ? Rand(plan.CellStateElements) : null;
        var dy = Data(plan.YDesc);
        var dhy = o.UseFinalStateGradients ? Rand(plan.HiddenStateElements) : null;
        var dcy = o.UseFinalStateGradients && lstm ? Rand(plan.CellStateElements) : null;

        // One training pass for the analytic gradients, then inference passes for the loss at perturbed inputs.
        var e = plan.Engine;
        using var bx = e.Upload<double>(x);
        using var bw = e.Upload<double>(weights);
        using var bhx = hx is null ? null : e.Upload<double>(hx);
        using var bcx = cx is null ? null : e.Upload<double>(cx);
        using var bdy = e.Upload<double>(dy);
        using var bdhy = dhy is null ? null : e.Upload<double>(dhy);
        using var bdcy = dcy is null ? null : e.Upload<double>(dcy);
        using var y = e.Allocate<double>(plan.YDesc.ElementCount);
        using var hy = e.Allocate<double>(plan.HiddenStateElements);
        using var cy = lstm ? e.Allocate<double>(plan.CellStateElements) : null;
        using var dx = e.Allocate<double>(plan.XDesc.ElementCount);
        using var dhx = e.Allocate<double>(plan.HiddenStateElements);
        using var dcx = lstm ? e.Allocate<double>(plan.CellStateElements) : null;
        using var dw = e.Allocate<double>(plan.WeightLayout.TotalElements);
        using (var reserve = plan.CreateReserve())
        {
            plan.Forward(RnnForwardMode.Training, bx, y, bhx, hy, bcx, cy, bw, reserve);
            plan.BackwardData(y, bdy, dx, bhx, bdhy, dhx, bcx, bdcy, dcx, bw, reserve);
            plan.BackwardWeights(WeightGradMode.Set, bx, bhx, y, dw, reserve);
        }

        double Loss()
        {
            plan.Forward(RnnForwardMode.Inference, bx, y, bhx, hy, bcx, cy, bw, null);
            double l = Dot(y.ToArray(), dy);
            if (dhy is not null) l += Dot(hy.ToArray(), dhy);
            if (dcy is not null) l += Dot(cy!.ToArray(), dcy);
            return l;
        }
        double loss0 = Loss();
        double atol = 10 * (Math.BitIncrement(1.0) - 1.0) * (1 + Math.Abs(loss0)) / o.Step; // 10 ulp of the loss, over the step

        var samples = new List<GradientSample>();
        void CheckTensor(string name, RnnBuffer<double> input, double[] values, double[] analytic, IReadOnlyList<int> candidates)
        {
            if (candidates.Count == 0) return;
            var picks = new SortedSet<int>();
            int best = candidates.MaxBy(i => Math.Abs(analytic[i]));
            picks.Add(best);
            for (int s = 0; s < o.SamplesPerTensor && picks.Count < candidates.Count; s++)
                picks.Add(candidates[(int)(rng.NextDouble() * candidates.Count)]);
            foreach (int i in picks)
            {
                double orig = values[i];
                input.Write(i, [orig + o.Step]);
                double lp = Loss();
                input.Write(i, [orig - o.Step]);
                double lm = Loss();
                input.Write(i, [orig]);
                double fd = (lp - lm) / (2 * o.Step);
                double err = Math.Abs(fd - analytic[i]);
                samples.Add(new GradientSample(name, i, analytic[i], fd, err, o.RelativeBudget * Math.Max(Math.Abs(fd), Math.Abs(analytic[i])) + atol));
            }
        }

        var validX = new List<int>();
        for (int t = 0; t < xDesc.MaxSeqLength; t++)
            for (int b = 0; b < xDesc.Batch; b++)
            {
                long off = xDesc.Offset(t, b);
                if (off >= 0) for (int k = 0; k < xDesc.VectorSize; k++) validX.Add((int)(off + k));
            }
        CheckTensor("dx", bx, x, dx.ToArray(), validX);
        if (hx is not null) CheckTensor("dhx", bhx!, hx, dhx.ToArray(), Enumerable.Range(0, hx.Length).ToArray());
        if (cx is not null) CheckTensor("dcx", bcx!, cx, dcx!.ToArray(), Enumerable.Range(0, cx.Length).ToArray());
        var dwa = dw.ToArray();
        var layout = plan.WeightLayout;
        foreach (var p in layout.PyTorchParameters)
        {
            // Map each parameter element to its weight-space index through the layout.
            var idx = new double[layout.TotalElements];
            for (int i = 0; i < idx.Length; i++) idx[i] = i;
            var map = new double[p.Count];
            layout.ExportPyTorch<double>(idx, p.Name, map);
            CheckTensor("grad." + p.Name, bw, weights, dwa, map.Select(v => (int)v).ToArray());
        }
        return new GradientCheckReport(rnn, xDesc, loss0, samples);
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
