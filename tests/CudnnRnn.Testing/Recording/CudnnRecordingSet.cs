namespace CudnnRnn.Testing.Recording;

/// <summary>Which cuDNN algorithm a recorded configuration asks for.</summary>
public enum RecordingAlgorithm
{
    /// <summary>The engine's own choice: on cuDNN, PERSIST_STATIC_SMALL_H where the configuration qualifies, else STANDARD.</summary>
    Auto,
    /// <summary>CUDNN_RNN_ALGO_STANDARD even where a persistent algorithm would be chosen.</summary>
    Standard,
}

/// <summary>How a configuration's inputs and weights are filled.</summary>
public enum RecordingFill
{
    /// <summary>Seeded uniform values: data in [-1, 1), weights in ±1/√hidden (PyTorch's initial range).</summary>
    Random,
    /// <summary>NVIDIA's RNN_v8.0 sample: every input 1, every matrix 1/(rows·cols), every bias 1.</summary>
    NvidiaSample,
}

/// <summary>One recorded configuration: the network, the data shape, what fills it and which algorithm it asks for.</summary>
/// <param name="Name">File-name-safe unique name.</param>
/// <param name="Rnn">The network (its DataType is the recorded element type).</param>
/// <param name="XDesc">The input data shape.</param>
/// <param name="Fill">How inputs and weights are filled.</param>
/// <param name="Seed">Seed of the random fill.</param>
/// <param name="Algorithm">The algorithm asked for.</param>
public sealed record RecordingConfig(string Name, RnnDescriptor Rnn, RnnDataDescriptor XDesc, RecordingFill Fill, int Seed,
    RecordingAlgorithm Algorithm)
{
    /// <summary>True when every sequence has the full length.</summary>
    public bool EqualLengths => XDesc.SeqLengthArray.All(l => l == XDesc.MaxSeqLength);

    /// <summary>
    /// True when cuDNN's engine would pick PERSIST_STATIC_SMALL_H for this configuration under <see cref="RecordingAlgorithm.Auto"/>:
    /// float32, hidden ≤ 128 (LSTM/GRU) or ≤ 256 (RNN), equal lengths, not packed, no projection, double bias, linear
    /// input, no clip.
    /// Restated from CudnnMapping.Algorithm (this project does not reference the CUDA engine); a test in
    /// CudnnRnn.Cuda.Tests checks the two agree on every configuration of the set.
    /// </summary>
    public bool PersistentEligible =>
        Rnn.DataType == RnnDataType.Float32 && Rnn.HiddenSize <= (Rnn.Mode is RnnMode.Lstm or RnnMode.Gru ? 128 : 256)
        && EqualLengths && XDesc.Layout != RnnDataLayout.SeqMajorPacked && !Rnn.HasProjection && Rnn.BiasMode == RnnBiasMode.Double && Rnn.InputMode == RnnInputMode.Linear
        && Rnn.CellClip is null;

    /// <summary>True when cuDNN is expected to run a persistent algorithm for this configuration.</summary>
    public bool ExpectsPersistent => Algorithm == RecordingAlgorithm.Auto && PersistentEligible;
}

/// <summary>
/// The fixed configuration set recorded from cuDNN: every mode; 1–3 layers; uni/bi; all three layouts; variable and equal
/// lengths; LSTM projection; every bias mode; skip input; cell clipping; float32 and float64; the persistent and the
/// standard algorithm; NVIDIA's sample configuration at reduced size. Sizes are small (the whole recording is a few MB):
/// what is checked is the semantics of each feature, element by element, not throughput.
/// The coverage tests (RecordingMachineryTests) read <see cref="All"/> itself, so an edit cannot shrink it
/// silently.
/// </summary>
public static class CudnnRecordingSet
{
    private const int T = 5, Batch = 3, Input = 5, Hidden = 6;
    private static readonly RnnMode[] Modes = [RnnMode.RnnTanh, RnnMode.RnnRelu, RnnMode.Gru, RnnMode.Lstm];
    private static readonly RnnDataLayout[] Layouts = [RnnDataLayout.SeqMajorUnpacked, RnnDataLayout.SeqMajorPacked, RnnDataLayout.BatchMajorUnpacked];

    /// <summary>Every configuration, in a fixed order with unique names.</summary>
    public static IReadOnlyList<RecordingConfig> All { get; } = Build();

    /// <summary>The configuration named <paramref name="name"/>.</summary>
    public static RecordingConfig Get(string name) => All.FirstOrDefault(c => c.Name == name)
        ?? throw new ArgumentException($"No recording configuration is named '{name}'.", nameof(name));

    /// <summary>Short names used in configuration names.</summary>
    public static string Short(RnnMode m) => m switch
    {
        RnnMode.RnnTanh => "tanh", RnnMode.RnnRelu => "relu", RnnMode.Gru => "gru", _ => "lstm",
    };

    /// <summary>Short layout name.</summary>
    public static string Short(RnnDataLayout l) => l switch
    {
        RnnDataLayout.SeqMajorUnpacked => "seq", RnnDataLayout.SeqMajorPacked => "packed", _ => "batch",
    };

    /// <summary>Short bias-mode name.</summary>
    public static string Short(RnnBiasMode b) => b switch
    {
        RnnBiasMode.None => "nobias", RnnBiasMode.SingleInput => "inbias", RnnBiasMode.SingleRecurrent => "recbias", _ => "dbias",
    };

    private static List<RecordingConfig> Build()
    {
        var list = new List<RecordingConfig>();
        int seed = 1800;

        void Add(string group, RnnDescriptor rnn, RnnDataLayout layout, bool variable, RecordingAlgorithm algo = RecordingAlgorithm.Auto,
            RecordingFill fill = RecordingFill.Random, int t = T, int batch = Batch)
        {
            var xDesc = variable
                ? new RnnDataDescriptor(layout, t, batch, rnn.InputSize, Lengths(layout, t, batch))
                : RnnDataDescriptor.Uniform(layout, t, batch, rnn.InputSize);
            string name = $"{group}-{(rnn.DataType == RnnDataType.Float32 ? "f32" : "f64")}-{Short(rnn.Mode)}-l{rnn.NumLayers}-" +
                $"{(rnn.NumDirections == 2 ? "bi" : "uni")}-{Short(layout)}-{(variable ? "var" : "eq")}" +
                (rnn.BiasMode != RnnBiasMode.Double ? "-" + Short(rnn.BiasMode) : "") +
                (rnn.InputMode == RnnInputMode.Skip ? "-skip" : "") + (rnn.HasProjection ? $"-proj{rnn.ProjSize}" : "") +
                (rnn.CellClip is not null ? "-clip" : "") + (algo == RecordingAlgorithm.Standard ? "-standard" : "");
            list.Add(new RecordingConfig(name, rnn, xDesc, fill, seed++, algo));
        }

        // 1. The grid, float64: mode × direction × layout; layers cycle 1, 2, 3; of the two directions of a (mode, layout)
        //    one has variable and the other equal lengths, alternating, so every layout gets both.
        int i = 0;
        foreach (var mode in Modes)
            foreach (var dir in new[] { RnnDirection.Unidirectional, RnnDirection.Bidirectional })
                foreach (var layout in Layouts)
                {
                    var rnn = new RnnDescriptor(mode, Input, Hidden, 1 + i % 3, dir, dataType: RnnDataType.Float64);
                    Add("grid", rnn, layout, variable: ((int)dir + (int)layout + (int)mode) % 2 == 0);
                    i++;
                }

        // 2. The same grid in float32, variable lengths (cuDNN runs STANDARD: persistent algorithms need equal lengths).
        i = 0;
        foreach (var mode in Modes)
            foreach (var dir in new[] { RnnDirection.Unidirectional, RnnDirection.Bidirectional })
                foreach (var layout in Layouts)
                {
                    var rnn = new RnnDescriptor(mode, Input, Hidden, 1 + (i + 1) % 3, dir, dataType: RnnDataType.Float32);
                    Add("grid", rnn, layout, variable: true);
                    i++;
                }

        // 3. Persistent vs standard, float32, equal lengths, plain configuration: each one twice, once as cuDNN chooses
        //    (PERSIST_STATIC_SMALL_H) and once forced to STANDARD, so both algorithms are checked on the same configuration
        //    (each twin with its own seed: the replay compares each with the CPU engine, not the twins with each other).
        //    Unidirectional in seq-major unpacked (where cuDNN 9.19 was seen to run it), bidirectional in batch-major or
        //    seq-major unpacked (where it may fall back to STANDARD; the manifest records what ran). Never packed: the
        //    engine runs packed input with STANDARD, as PyTorch does.
        i = 0;
        foreach (var mode in Modes)
            foreach (var dir in new[] { RnnDirection.Unidirectional, RnnDirection.Bidirectional })
            {
                var rnn = new RnnDescriptor(mode, Input, Hidden, 1 + i % 3, dir, dataType: RnnDataType.Float32);
                var layout = dir == RnnDirection.Unidirectional || i / 2 % 2 == 1 ? RnnDataLayout.SeqMajorUnpacked : RnnDataLayout.BatchMajorUnpacked;
                Add("algo", rnn, layout, variable: false, RecordingAlgorithm.Auto);
                Add("algo", rnn, layout, variable: false, RecordingAlgorithm.Standard);
                i++;
            }

        // 4. Every other bias mode for every mode (the double bias is in the grids), float64; GRU's single bias placement is
        //    an inference from cuDNN's header wording (API.md §7.5), which these settle.
        i = 0;
        foreach (var mode in Modes)
            foreach (var bias in new[] { RnnBiasMode.None, RnnBiasMode.SingleInput, RnnBiasMode.SingleRecurrent })
            {
                var dir = i % 2 == 0 ? RnnDirection.Unidirectional : RnnDirection.Bidirectional;
                var rnn = new RnnDescriptor(mode, Input, Hidden, 1 + i % 2, dir, biasMode: bias, dataType: RnnDataType.Float64);
                Add("bias", rnn, Layouts[i % 3], variable: i % 2 == 0);
                i++;
            }
        // …and one float32 single-bias GRU, the case whose semantics are least documented.
        Add("bias", new RnnDescriptor(RnnMode.Gru, Input, Hidden, 2, RnnDirection.Bidirectional, biasMode: RnnBiasMode.SingleRecurrent,
            dataType: RnnDataType.Float32), RnnDataLayout.SeqMajorUnpacked, variable: true);

        // 5. Skip input (inputSize == hiddenSize), every mode, float64; plus float32 LSTM.
        i = 0;
        foreach (var mode in Modes)
        {
            var dir = i % 2 == 0 ? RnnDirection.Unidirectional : RnnDirection.Bidirectional;
            var rnn = new RnnDescriptor(mode, Hidden, Hidden, 1 + i % 2, dir, inputMode: RnnInputMode.Skip, dataType: RnnDataType.Float64);
            Add("skip", rnn, Layouts[i % 3], variable: true);
            i++;
        }
        Add("skip", new RnnDescriptor(RnnMode.Lstm, Hidden, Hidden, 2, RnnDirection.Bidirectional, inputMode: RnnInputMode.Skip,
            dataType: RnnDataType.Float32), RnnDataLayout.SeqMajorPacked, variable: true);

        // 6. LSTM projection (projSize < hiddenSize; cuDNN allows it with STANDARD only), both data types, uni and bi.
        Add("proj", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 2, RnnDirection.Unidirectional, projSize: 4,
            dataType: RnnDataType.Float64), RnnDataLayout.SeqMajorUnpacked, variable: true);
        Add("proj", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 3, RnnDirection.Bidirectional, projSize: 3,
            dataType: RnnDataType.Float64), RnnDataLayout.SeqMajorPacked, variable: true);
        Add("proj", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 1, RnnDirection.Bidirectional, projSize: 4,
            dataType: RnnDataType.Float32), RnnDataLayout.BatchMajorUnpacked, variable: false);
        Add("proj", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 2, RnnDirection.Unidirectional, projSize: 2,
            dataType: RnnDataType.Float32), RnnDataLayout.SeqMajorPacked, variable: true);

        // 7. Cell clipping: asymmetric bounds well inside the range c reaches with our data (|c| up to ~0.7 at the last
        //    step), so both bounds clip (RecordingCoverageTests.Clip_configurations_really_clip checks it on the data).
        var clip = new RnnCellClip(-0.25, 0.3);
        Add("clip", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 2, RnnDirection.Unidirectional, dataType: RnnDataType.Float64,
            cellClip: clip), RnnDataLayout.SeqMajorUnpacked, variable: true);
        Add("clip", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 1, RnnDirection.Bidirectional, dataType: RnnDataType.Float32,
            cellClip: clip), RnnDataLayout.SeqMajorPacked, variable: false);
        Add("clip", new RnnDescriptor(RnnMode.Lstm, Input, Hidden, 2, RnnDirection.Bidirectional, projSize: 4,
            dataType: RnnDataType.Float64, cellClip: clip), RnnDataLayout.BatchMajorUnpacked, variable: true);

        // 8. NVIDIA's RNN_v8.0 sample at reduced size: float32, 2 layers, input = hidden, packed, equal lengths, double bias,
        //    linear input, STANDARD (the sample's -algorithm0); all-ones data, matrices 1/(rows·cols), biases 1.
        //    (The sample: T 20, hidden 512, batch 64; here T 6, hidden 16, batch 4.)
        foreach (var mode in Modes)
            Add("nvidia", new RnnDescriptor(mode, 16, 16, 2, dataType: RnnDataType.Float32), RnnDataLayout.SeqMajorPacked,
                variable: false, RecordingAlgorithm.Standard, RecordingFill.NvidiaSample, t: 6, batch: 4);

        if (list.Select(c => c.Name).Distinct().Count() != list.Count)
            throw new InvalidOperationException("Recording configuration names must be unique: " +
                string.Join(", ", list.GroupBy(c => c.Name).Where(g => g.Count() > 1).Select(g => g.Key)));
        return list;
    }

    // Variable lengths with the longest equal to maxSeqLength. Packed needs them in descending order; the unpacked layouts
    // get them unsorted, which cuDNN allows there.
    private static int[] Lengths(RnnDataLayout layout, int t, int batch)
    {
        var lengths = Enumerable.Range(0, batch).Select(b => Math.Max(1, t - 2 * b)).ToArray(); // e.g. 5, 3, 1
        if (layout != RnnDataLayout.SeqMajorPacked && batch >= 3) (lengths[0], lengths[1]) = (lengths[1], lengths[0]); // 3, 5, 1
        return lengths;
    }
}
