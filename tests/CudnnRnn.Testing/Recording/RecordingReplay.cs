using System.Numerics;
using CudnnRnn.Verification;

namespace CudnnRnn.Testing.Recording;

/// <summary>
/// Tolerances for comparing an engine with a recording made by another engine (cuDNN), derived from the data type and the
/// accumulation lengths; never tuned to pass. The form is <see cref="TensorComparison.Compare"/>'s
/// <c>|a − e| ≤ rtol·(|e| + scale)</c>, scale = the tensor's largest |e|.
/// <para>
/// Why these bounds. Two engines compute the same formulas in different orders (cuDNN float32 fuses multiply-adds with
/// FMA and blocks its GEMMs its own way; the CPU engine has its own blocking; OpenCL on PoCL its own), so float32 cannot
/// be bitwise and neither can float64. Any summation of K products, in any order, with or without FMA, is within
/// γ_K·Σ|terms| of the exact sum, γ_K = K·u/(1 − K·u) ≈ K·u (Higham, Accuracy and Stability, §3.1), u the unit roundoff
/// (2⁻²⁴ float32, 2⁻⁵³ float64). Both engines err, so a difference needs 2·γ_K. Σ|terms| is taken as at most
/// <see cref="Magnitude"/> × the tensor's scale: an assumption about the recorded data (values in ±1, weights in
/// ±1/√hidden, so a pre-activation's terms are small against the O(1) values of the tensor), not a theorem. Each sigmoid/tanh/exp is within <see cref="ActivationUlps"/>/2 units of u in each engine (CUDA's tanhf/expf:
/// ≤ 2 ulp; .NET's Math within 1 ulp). The recurrence then carries every step's local error forward through steps
/// whose Jacobian norm is ≤ ~1 (slope ≤ 1, weights ≤ 1/√hidden), so local errors add up over depth D = steps × layers.
/// </para>
/// <para>
/// These are worst-case bounds (errors of random sign grow like √K, not K). Measured without a GPU, OpenCL on PoCL
/// against the CPU engine's dry-run recording of the whole set (OpenClRecordingDryRunTests) stays under 1 % of them in
/// every tensor group, float32 and float64: a wrong result (a misplaced bias, a clip bound, a skipped step) is many
/// orders of magnitude above them, rounding differences far below.
/// </para>
/// </summary>
public static class RecordingTolerance
{
    /// <summary>Bound on Σ|terms| / scale for the recorded data (see the class remarks).</summary>
    public const double Magnitude = 2;
    /// <summary>Rounding units an activation may add per step, both engines together.</summary>
    public const double ActivationUlps = 8;

    /// <summary>Unit roundoff of a data type: 2⁻²⁴ (float32), 2⁻⁵³ (float64).</summary>
    public static double UnitRoundoff(RnnDataType dataType) => dataType == RnnDataType.Float32 ? Math.ScaleB(1, -24) : Math.ScaleB(1, -53);

    /// <summary>
    /// y, hy, cy: each gate pre-activation sums K_f = (layer input + state) products and two biases (+ the hidden size of
    /// the LSTM projection, a second accumulation in series); local error 2·M·u·(K_f + A) per step, over D = T·L steps.
    /// </summary>
    public static double Forward(RnnDescriptor rnn, RnnDataDescriptor xDesc) =>
        2 * Magnitude * UnitRoundoff(rnn.DataType) * (ForwardLength(rnn) + ActivationUlps) * Depth(rnn, xDesc);

    /// <summary>
    /// dx, dhx, dcx: backward runs the chain back through the same D steps (2·D in all), summing K_b = directions × gates ×
    /// hidden products per element (Wᵀ·dgates over both directions of the next layer, Rᵀ·dgates), with coefficients (gate
    /// values, saved states) that carry the forward's error: local error 2·M·u·(K_f + K_b + 2A) per step over 2·D.
    /// </summary>
    public static double BackwardData(RnnDescriptor rnn, RnnDataDescriptor xDesc) =>
        2 * Magnitude * UnitRoundoff(rnn.DataType) * (ForwardLength(rnn) + BackwardLength(rnn) + 2 * ActivationUlps) * 2 * Depth(rnn, xDesc);

    /// <summary>
    /// Weight gradients: each element sums N = total valid steps products of a gate gradient (error as backward data) and an
    /// input or state value (error as forward): backward-data bound plus 2·M·u·N for the sum itself.
    /// </summary>
    public static double WeightGradient(RnnDescriptor rnn, RnnDataDescriptor xDesc) =>
        BackwardData(rnn, xDesc) + 2 * Magnitude * UnitRoundoff(rnn.DataType) * xDesc.TotalSteps;

    /// <summary>The bound for a tensor group ("y", "hy", "cy", "dx", "dhx", "dcx", "dw").</summary>
    public static double For(string group, RnnDescriptor rnn, RnnDataDescriptor xDesc) => group switch
    {
        "y" or "hy" or "cy" => Forward(rnn, xDesc),
        "dx" or "dhx" or "dcx" => BackwardData(rnn, xDesc),
        "dw" => WeightGradient(rnn, xDesc),
        _ => throw new ArgumentOutOfRangeException(nameof(group), group, "Expected y, hy, cy, dx, dhx, dcx or dw."),
    };

    private static int ForwardLength(RnnDescriptor rnn)
    {
        int widest = Math.Max(rnn.InputSize, rnn.OutputSize);
        return widest + rnn.StateSize + 2 + (rnn.HasProjection ? rnn.HiddenSize : 0);
    }

    private static int BackwardLength(RnnDescriptor rnn) => rnn.NumDirections * rnn.Gates * rnn.HiddenSize + rnn.HiddenSize;

    private static double Depth(RnnDescriptor rnn, RnnDataDescriptor xDesc) => (double)xDesc.MaxSeqLength * rnn.NumLayers;
}

/// <summary>How one engine replayed one recorded configuration.</summary>
/// <param name="Recording">The recording folder's name.</param>
/// <param name="Config">The configuration.</param>
/// <param name="Engine">The engine that replayed it.</param>
/// <param name="Tensors">One comparison per recorded output.</param>
public sealed record RecordingReplayResult(string Recording, RecordingEntry Config, string Engine, IReadOnlyList<TensorComparison> Tensors)
{
    /// <summary>True when every output is within its bound.</summary>
    public bool Passed => Tensors.All(t => t.Passed);

    /// <summary>The failed comparisons, each naming the tensor, the index and both values.</summary>
    public IEnumerable<TensorComparison> Failures => Tensors.Where(t => !t.Passed);

    /// <summary>Worst error per group relative to its bound (max|a−e| / (rtol·scale)).</summary>
    public IEnumerable<(string Group, double ErrorOverBound, double RelativeToScale)> WorstPerGroup =>
        Tensors.GroupBy(t => t.Group).Select(g => (g.Key,
            g.Max(t => t.Scale > 0 ? t.MaxAbs / (t.Rtol * t.Scale) : (t.MaxAbs > 0 ? double.PositiveInfinity : 0)),
            g.Max(t => t.RelativeToScale)));
}

/// <summary>Replays a recorded configuration on an engine: the recorded inputs in, every output compared element by element.</summary>
public static class RecordingReplay
{
    /// <summary>Replays <paramref name="entry"/> of the recording in <paramref name="folder"/> on <paramref name="engine"/>.</summary>
    public static RecordingReplayResult Run(IRnnEngine engine, string folder, RecordingEntry entry)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(entry);
        var recorded = RecordingTensorFile.Read(Path.Combine(folder, entry.File));
        var rnn = entry.ToDescriptor();
        var xDesc = entry.ToDataDescriptor();
        var outputs = rnn.DataType == RnnDataType.Float32
            ? Replay<float>(engine, rnn, xDesc, recorded, entry)
            : Replay<double>(engine, rnn, xDesc, recorded, entry);
        string path = Path.Combine(folder, entry.File);
        var list = new List<TensorComparison>();
        foreach (var output in outputs)
        {
            if (!recorded.TryGetValue(output.Name, out var expected))
                throw new RecordingFormatException(path, $"the recording has no '{output.Name}', which {engine.Name} produced.");
            if (!expected.Shape.SequenceEqual(output.Shape))
                throw new RecordingFormatException(path,
                    $"'{output.Name}' is recorded as [{string.Join(",", expected.Shape)}]; {engine.Name} produced [{string.Join(",", output.Shape)}].");
            bool weight = output.Name.StartsWith("grad.", StringComparison.Ordinal);
            string group = weight ? "dw" : output.Name;
            list.Add(TensorComparison.Compare(output.Name, group, output.Values, expected.Values, RecordingTolerance.For(group, rnn, xDesc)));
        }
        var produced = outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var missing = recorded.Keys.Where(IsOutput).Where(n => !produced.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new RecordingFormatException(path, $"recorded outputs {string.Join(", ", missing)} were not produced by {engine.Name} for {rnn}.");
        return new RecordingReplayResult(Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), entry, engine.Name, list);
    }

    private static bool IsOutput(string name) =>
        name is "y" or "hy" or "cy" or "dx" or "dhx" or "dcx" || name.StartsWith("grad.", StringComparison.Ordinal);

    private static List<RecordedTensor> Replay<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc,
        Dictionary<string, RecordedTensor> recorded, RecordingEntry entry) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        string file = entry.File;
        T[] Get(string name, long count)
        {
            if (!recorded.TryGetValue(name, out var t))
                throw new RecordingFormatException(file, $"input '{name}' is missing.");
            if (t.Values.Length != count)
                throw new RecordingFormatException(file, $"input '{name}' has {t.Values.Length} values; {rnn} on {xDesc} needs {count}.");
            var a = new T[count];
            for (long i = 0; i < count; i++) a[i] = T.CreateChecked(t.Values[i]); // exact: stored in T's own precision
            return a;
        }
        var layout = plan.WeightLayout;
        var ws = new T[layout.TotalElements];
        foreach (var p in layout.PyTorchParameters) layout.ImportPyTorch<T>(ws, p.Name, Get(p.Name, p.Count));
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var inputs = new CudnnRecorder.Inputs<T>(Get("x", plan.XDesc.ElementCount), ws, Get("hx", plan.HiddenStateElements),
            lstm ? Get("cx", plan.CellStateElements) : null, Get("dy", plan.YDesc.ElementCount), Get("dhy", plan.HiddenStateElements),
            lstm ? Get("dcy", plan.CellStateElements) : null);
        return CudnnRecorder.RunPass(plan, inputs);
    }
}
