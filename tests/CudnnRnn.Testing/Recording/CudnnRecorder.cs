using System.Globalization;
using System.Numerics;
using CudnnRnn.Verification;

namespace CudnnRnn.Testing.Recording;

/// <summary>What an engine can add to a recording beyond <see cref="IRnnEngine"/>: algorithm choice and what ran.</summary>
public sealed class RecorderHooks
{
    /// <summary>Called before each plan is created with the algorithm the configuration asks for (cuDNN: force STANDARD or not).</summary>
    public Action<RecordingAlgorithm>? SelectAlgorithm { get; init; }
    /// <summary>The algorithm a plan runs (the argument is the RnnPlan&lt;T&gt;); null: "engine-default".</summary>
    public Func<object, string>? AlgorithmOf { get; init; }
    /// <summary>The math type of a data type; null: "n/a".</summary>
    public Func<RnnDataType, string>? MathTypeOf { get; init; }
}

/// <summary>
/// Runs any engine on the recording configurations (<see cref="CudnnRecordingSet"/>) and writes a recording folder:
/// one safetensors file per configuration with the inputs (x, hx, cx, dy, dhy, dcy, every weight by PyTorch name) and
/// every output in full (y, hy, cy, dx, dhx, dcx, every weight gradient as <c>grad.&lt;name&gt;</c>), plus
/// <c>manifest.json</c> with the provenance and the configurations. On cuDNN this is the reference the CPU and OpenCL
/// tests replay; on the CPU engine it is the dry run that proves the machinery.
/// </summary>
public static class CudnnRecorder
{
    /// <summary>Records <paramref name="configs"/> (default: the whole set) into <paramref name="folder"/> (created).</summary>
    public static RecordingManifest Record(IRnnEngine engine, RecordingProvenance provenance, string folder, string recorder,
        RecorderHooks? hooks = null, IEnumerable<RecordingConfig>? configs = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(provenance);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        hooks ??= new RecorderHooks();
        Directory.CreateDirectory(folder);
        var manifest = new RecordingManifest
        {
            Provenance = provenance,
            RecordedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Recorder = recorder,
        };
        void RecordOne(RecordingConfig config, RecordingAlgorithm algorithmToRun, string? note)
        {
            try
            {
                hooks.SelectAlgorithm?.Invoke(algorithmToRun);
                var (tensors, algorithm) = config.Rnn.DataType == RnnDataType.Float32
                    ? Run<float>(engine, config, hooks)
                    : Run<double>(engine, config, hooks);
                string file = config.Name + ".safetensors";
                string path = Path.Combine(folder, file);
                RecordingTensorFile.Write(path, config.Rnn.DataType, tensors);
                var entry = RecordingEntry.From(config, file, algorithm, hooks.MathTypeOf?.Invoke(config.Rnn.DataType) ?? "n/a", new FileInfo(path).Length);
                entry.Note = note;
                manifest.Configs.Add(entry);
            }
            finally
            {
                hooks.SelectAlgorithm?.Invoke(RecordingAlgorithm.Auto);
            }
        }

        foreach (var config in configs ?? CudnnRecordingSet.All)
        {
            try
            {
                RecordOne(config, config.Algorithm, note: null);
            }
            catch (Exception e) when (e is not OutOfMemoryException && config.Algorithm == RecordingAlgorithm.Auto)
            {
                // The engine's own choice failed (cuDNN: a persistent algorithm refused inside a call): the configuration is
                // still worth its numbers with the standard algorithm; the entry says what happened.
                string first = $"{e.GetType().Name}: {e.Message}";
                try
                {
                    RecordOne(config, RecordingAlgorithm.Standard, $"the engine's own algorithm failed ({first}); recorded with the standard algorithm");
                }
                catch (Exception e2) when (e2 is not OutOfMemoryException)
                {
                    manifest.Refused.Add(new RecordingRefusal(config.Name, $"{first}; with the standard algorithm too: {e2.GetType().Name}: {e2.Message}"));
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                manifest.Refused.Add(new RecordingRefusal(config.Name, $"{e.GetType().Name}: {e.Message}"));
            }
            // After every configuration: a run cut off (a time limit, a crash in the native library) keeps a manifest that
            // describes every tensor file already written.
            manifest.Save(folder);
        }
        manifest.Save(folder);
        return manifest;
    }

    /// <summary>The inputs of a configuration, generated from its fill and seed in the engine's weight layout.</summary>
    internal sealed record Inputs<T>(T[] X, T[] Weights, T[] Hx, T[]? Cx, T[] Dy, T[] Dhy, T[]? Dcy) where T : unmanaged, IFloatingPointIeee754<T>;

    private static (List<RecordedTensor>, string Algorithm) Run<T>(IRnnEngine engine, RecordingConfig config, RecorderHooks hooks)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(config.Rnn, config.XDesc);
        var inputs = Generate<T>(plan, config);
        var tensors = new List<RecordedTensor>();
        var shapes = Shapes(plan);
        tensors.Add(shapes.Data("x", inputs.X, plan.Rnn.InputSize));
        tensors.Add(shapes.State("hx", inputs.Hx, cell: false));
        if (inputs.Cx is not null) tensors.Add(shapes.State("cx", inputs.Cx, cell: true));
        tensors.AddRange(Weights(plan.WeightLayout, inputs.Weights, prefix: ""));
        tensors.Add(shapes.Data("dy", inputs.Dy, plan.Rnn.OutputSize));
        tensors.Add(shapes.State("dhy", inputs.Dhy, cell: false));
        if (inputs.Dcy is not null) tensors.Add(shapes.State("dcy", inputs.Dcy, cell: true));
        tensors.AddRange(RunPass(plan, inputs));
        return (tensors, hooks.AlgorithmOf?.Invoke(plan) ?? "engine-default");
    }

    /// <summary>Runs forward (training), backward data and backward weights (ADD into zeros) and returns every output.</summary>
    internal static List<RecordedTensor> RunPass<T>(RnnPlan<T> plan, Inputs<T> inputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var pass = new PassBuffers<T>(plan, inputs.X, inputs.Weights, inputs.Hx, inputs.Cx, inputs.Dy, inputs.Dhy, inputs.Dcy);
        pass.Dw.Clear(); // ADD into a zeroed buffer, as cuDNN's users do (API.md §8)
        pass.RunTraining(WeightGradMode.Add);
        var shapes = Shapes(plan);
        var outputs = new List<RecordedTensor>
        {
            shapes.Data("y", pass.Y.ToArray(), plan.Rnn.OutputSize),
            shapes.State("hy", pass.Hy.ToArray(), cell: false),
        };
        if (pass.Cy is not null) outputs.Add(shapes.State("cy", pass.Cy.ToArray(), cell: true));
        outputs.Add(shapes.Data("dx", pass.Dx.ToArray(), plan.Rnn.InputSize));
        outputs.Add(shapes.State("dhx", pass.Dhx.ToArray(), cell: false));
        if (pass.Dcx is not null) outputs.Add(shapes.State("dcx", pass.Dcx.ToArray(), cell: true));
        outputs.AddRange(Weights(plan.WeightLayout, pass.Dw.ToArray(), prefix: "grad."));
        return outputs;
    }

    private static IEnumerable<RecordedTensor> Weights<T>(RnnWeightLayout layout, T[] space, string prefix) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var p in layout.PyTorchParameters)
        {
            var values = new T[p.Count];
            layout.ExportPyTorch<T>(space, p.Name, values);
            yield return new RecordedTensor(prefix + p.Name, Dtype<T>(), p.Shape.ToArray(), Widen(values));
        }
    }

    // Random fill: data, states and output gradients uniform in [-1, 1); weights uniform in ±1/√hidden, PyTorch's initial
    // range, so a step's pre-activation stays O(1) and nothing saturates or explodes over the few steps recorded. Padded
    // positions of x and dy stay 0 (no engine reads them). Values are rounded to T once, and what is stored is exactly
    // what the engine was given.
    private static Inputs<T> Generate<T>(RnnPlan<T> plan, RecordingConfig config) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnn = plan.Rnn;
        bool lstm = rnn.Mode == RnnMode.Lstm;
        var layout = plan.WeightLayout;
        var ws = new T[layout.TotalElements];
        if (config.Fill == RecordingFill.NvidiaSample)
        {
            T one = T.One;
            foreach (var e in layout.Entries)
            {
                if (e.HasMatrix) ws.AsSpan((int)e.MatrixOffset, e.Rows * e.Cols).Fill(T.CreateChecked(1.0 / (e.Rows * e.Cols)));
                if (e.HasBias) ws.AsSpan((int)e.BiasOffset, e.BiasLength).Fill(one);
            }
            T[] Ones(long n) { var a = new T[n]; Array.Fill(a, one); return a; }
            return new Inputs<T>(Ones(plan.XDesc.ElementCount), ws, Ones(plan.HiddenStateElements), lstm ? Ones(plan.CellStateElements) : null,
                Ones(plan.YDesc.ElementCount), Ones(plan.HiddenStateElements), lstm ? Ones(plan.CellStateElements) : null);
        }
        var rng = new Random(config.Seed);
        T U(double range) => T.CreateChecked((rng.NextDouble() * 2 - 1) * range);
        T[] Uniform(long n) { var a = new T[n]; for (long i = 0; i < n; i++) a[i] = U(1); return a; }
        T[] Sequence(RnnDataDescriptor d)
        {
            var a = new T[d.ElementCount];
            for (int b = 0; b < d.Batch; b++)
                for (int t = 0; t < d.SeqLengths[b]; t++)
                {
                    long off = d.Offset(t, b);
                    for (int v = 0; v < d.VectorSize; v++) a[off + v] = U(1);
                }
            return a;
        }
        double wRange = 1 / Math.Sqrt(rnn.HiddenSize);
        foreach (var p in layout.PyTorchParameters)
        {
            var values = new T[p.Count];
            for (int i = 0; i < values.Length; i++) values[i] = U(wRange);
            layout.ImportPyTorch<T>(ws, p.Name, values);
        }
        var x = Sequence(plan.XDesc);
        var hx = Uniform(plan.HiddenStateElements);
        var cx = lstm ? Uniform(plan.CellStateElements) : null;
        var dy = Sequence(plan.YDesc);
        var dhy = Uniform(plan.HiddenStateElements);
        var dcy = lstm ? Uniform(plan.CellStateElements) : null;
        return new Inputs<T>(x, ws, hx, cx, dy, dhy, dcy);
    }

    internal static TensorShapes Shapes<T>(RnnPlan<T> plan) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(plan.XDesc, plan.Rnn);

    internal static string Dtype<T>() => typeof(T) == typeof(float) ? "F32" : "F64";

    internal static double[] Widen<T>(T[] values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = double.CreateChecked(values[i]);
        return d;
    }

    /// <summary>Tensor shapes: sequence data [T, B, V] (seq-major), [B, T, V] (batch-major), [rows, V] (packed); states [L·D, B, W].</summary>
    internal sealed class TensorShapes(RnnDataDescriptor xDesc, RnnDescriptor rnn)
    {
        public RecordedTensor Data<T>(string name, T[] values, int vectorSize) where T : unmanaged, IFloatingPointIeee754<T> =>
            new(name, Dtype<T>(), DataShape(xDesc, vectorSize), Widen(values));

        public RecordedTensor State<T>(string name, T[] values, bool cell) where T : unmanaged, IFloatingPointIeee754<T> =>
            new(name, Dtype<T>(), [rnn.PseudoLayerCount, xDesc.Batch, cell ? rnn.HiddenSize : rnn.StateSize], Widen(values));

        public static int[] DataShape(RnnDataDescriptor d, int vectorSize) => d.Layout switch
        {
            RnnDataLayout.SeqMajorUnpacked => [d.MaxSeqLength, d.Batch, vectorSize],
            RnnDataLayout.BatchMajorUnpacked => [d.Batch, d.MaxSeqLength, vectorSize],
            _ => [checked((int)d.TotalSteps), vectorSize],
        };
    }
}
