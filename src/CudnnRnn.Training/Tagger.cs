using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>
/// A bidirectional RNN sequence tagger (POS, NER): word embedding (+ character BiLSTM features + word-shape embedding)
/// → multi-layer (Bi)LSTM/GRU on any <see cref="IRnnEngine"/> → linear layer → softmax over tags.
/// </summary>
/// <remarks>
/// The tagger holds the master copy of every parameter (<see cref="Parameters"/>), which optimizers update in place:
/// host arrays, except the RNN weights, which live in engine memory (<see cref="Parameter{T}.Allocate"/>; on the CPU
/// engine host arrays seen through engine views). Computation runs in <see cref="TaggerWorker{T}"/>s, each with its own
/// <see cref="RnnLayer{T}"/>s reading those RNN weights in place, so several workers can process parts of a batch in
/// parallel (data parallelism); worker 0 writes the master gradients directly, the others are summed into them.
/// </remarks>
public sealed class Tagger<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<TaggerWorker<T>> _workers = new();
    private readonly List<Parameter<T>> _parameters = new();
    private bool _disposed;

    /// <summary>Creates a tagger with freshly initialised (seeded) parameters.</summary>
    /// <param name="engine">The engine that runs the RNNs.</param>
    /// <param name="hyper">Architecture.</param>
    /// <param name="words">Word vocabulary.</param>
    /// <param name="chars">Character vocabulary.</param>
    /// <param name="tags">Tag set.</param>
    /// <param name="column">The CoNLL-U column of the tags.</param>
    /// <param name="seed">Seed of the initialisation.</param>
    /// <param name="precision">
    /// The RNNs' precision on the engine: <see cref="Precision.Fp16"/> and <see cref="Precision.Bf16"/> run them in 16
    /// bits cast from the float32 master parameters each step (<typeparamref name="T"/> must be float); everything else
    /// stays float32.
    /// </param>
    public Tagger(IRnnEngine engine, TaggerHyperParameters hyper, Vocabulary words, Vocabulary chars, Vocabulary tags, TagColumn column, ulong seed,
        Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(hyper);
        hyper.Validate();
        if (!words.HasSpecials || !chars.HasSpecials) throw new ArgumentException("Word and char vocabularies need the padding/unknown specials.");
        if (tags.HasSpecials || tags.Count < 1) throw new ArgumentException("The tag set must be a vocabulary without specials, with at least one tag.", nameof(tags));
        Engine = engine;
        Hyper = hyper;
        Words = words;
        Chars = chars;
        Tags = tags;
        Column = column;
        var dt = RnnDescriptor.DataTypeOf<T>();
        if (!Enum.IsDefined(precision)) throw new ArgumentOutOfRangeException(nameof(precision), precision, "Expected Fp32, Fp16 or Bf16.");
        if (precision.IsMixed())
        {
            if (dt != RnnDataType.Float32)
                throw new NotSupportedException($"Mixed precision ({precision.Word()}) keeps float32 master weights; this tagger's element type is {typeof(T).Name} (use float).");
            if (!engine.Supports(precision.ToRnnDataType(), out var why))
                throw new NotSupportedException($"The {engine.Name} engine cannot run {precision.Word()}: {why}");
        }
        Precision = precision;
        // The master weight spaces follow the engine's layout for the type the RNNs run in (the 16-bit one when mixed), so
        // a cast copies element by element.
        var rnnType = precision.IsMixed() ? precision.ToRnnDataType() : dt;

        WordEmbedding = Add(new Parameter<T>("word_embedding.weight", words.Count, hyper.WordDim));
        if (hyper.UsesChars)
        {
            CharEmbedding = Add(new Parameter<T>("char_embedding.weight", chars.Count, hyper.CharDim));
        }
        if (hyper.UsesChars && !hyper.UsesCharLstm)
        {
            // PyTorch Conv1d layout [out, in, kernel]: column c·3 + k of the im2col rows.
            CharConvWeight = Add(new Parameter<T>("char_cnn.weight", hyper.CharFilters, hyper.CharDim, CharKernel));
            CharConvBias = Add(new Parameter<T>("char_cnn.bias", hyper.CharFilters));
        }
        if (hyper.UsesCharLstm)
        {
            CharRnnDescriptor = new RnnDescriptor(RnnMode.Lstm, hyper.CharDim, hyper.CharHidden, 1, RnnDirection.Bidirectional, dataType: dt);
            CharRnnLayout = engine.GetWeightLayout(CharRnnDescriptor.WithDataType(rnnType));
            CharRnnWeights = Add(RnnMaster("char_lstm", CharRnnLayout));
        }
        if (hyper.UsesShape) ShapeEmbedding = Add(new Parameter<T>("shape_embedding.weight", WordFeatures.ShapeCount, hyper.ShapeDim));
        RnnDescriptor = new RnnDescriptor(hyper.Mode, hyper.InputSize, hyper.Hidden, hyper.Layers,
            hyper.Bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional, dataType: dt,
            dropout: 0); // the workers run it as stacked single-layer RNNs and apply Hyper.Dropout between layers themselves (keyed by sample)
        RnnLayout = engine.GetWeightLayout(RnnDescriptor.WithDataType(rnnType));
        RnnWeights = Add(RnnMaster("lstm", RnnLayout));
        OutputWeight = Add(new Parameter<T>("output.weight", tags.Count, hyper.OutputSize));
        OutputBias = Add(new Parameter<T>("output.bias", tags.Count));
        Initialize(seed);
    }

    /// <summary>Builds vocabularies from training sentences and creates a tagger.</summary>
    public static Tagger<T> Create(IRnnEngine engine, TaggerHyperParameters hyper, IReadOnlyList<TaggedSentence> train, TagColumn column, ulong seed,
        Precision precision = Precision.Fp32)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0) throw new ArgumentException("No training sentences.", nameof(train));
        var words = Vocabulary.Build(train.SelectMany(s => s.Words).Select(w => WordFeatures.Normalize(w, hyper.Lowercase, hyper.NormalizeDigits)), hyper.MinWordFrequency);
        var chars = Vocabulary.Build(train.SelectMany(s => s.Words).SelectMany(w => w).Select(c => c.ToString()), 1);
        var tags = Vocabulary.Build(train.SelectMany(s => s.Tags), 1, hasSpecials: false);
        return new Tagger<T>(engine, hyper, words, chars, tags, column, seed, precision);
    }

    private int[]? _charTable;

    /// <summary>Id of a character in <see cref="Chars"/> (unknown id when absent); a table lookup, no allocation.</summary>
    public int CharId(char c)
    {
        var table = _charTable;
        if (table is null)
        {
            table = new int[char.MaxValue + 1];
            Array.Fill(table, Vocabulary.UnknownId);
            for (int i = 0; i < Chars.Count; i++)
                if (Chars[i].Length == 1) table[Chars[i][0]] = i;
            _charTable = table;
        }
        return table[c];
    }

    /// <summary>The engine that runs the RNNs.</summary>
    public IRnnEngine Engine { get; }
    /// <summary>The precision the RNNs run in (the master parameters are float32 in every mode of a float tagger).</summary>
    public Precision Precision { get; }
    /// <summary>Architecture.</summary>
    public TaggerHyperParameters Hyper { get; }
    /// <summary>Word vocabulary (normalised forms).</summary>
    public Vocabulary Words { get; }
    /// <summary>Character vocabulary.</summary>
    public Vocabulary Chars { get; }
    /// <summary>Tag set.</summary>
    public Vocabulary Tags { get; }
    /// <summary>The CoNLL-U column the tags come from.</summary>
    public TagColumn Column { get; }
    /// <summary>All parameters, in a fixed order.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;
    /// <summary>The sentence RNN.</summary>
    public RnnDescriptor RnnDescriptor { get; }
    /// <summary>The engine's weight layout of <see cref="RnnWeights"/>.</summary>
    public RnnWeightLayout RnnLayout { get; }
    /// <summary>The character BiLSTM, or null.</summary>
    public RnnDescriptor? CharRnnDescriptor { get; }
    /// <summary>The engine's weight layout of <see cref="CharRnnWeights"/>, or null.</summary>
    public RnnWeightLayout? CharRnnLayout { get; }

    /// <summary>[words, WordDim].</summary>
    public Parameter<T> WordEmbedding { get; }
    /// <summary>[chars, CharDim], or null.</summary>
    public Parameter<T>? CharEmbedding { get; }
    /// <summary>Flat weight space of the char BiLSTM (engine layout), or null.</summary>
    public Parameter<T>? CharRnnWeights { get; }
    /// <summary>Width of the character convolution window.</summary>
    public const int CharKernel = 3;
    /// <summary>[CharFilters, CharDim, 3] (char CNN), or null.</summary>
    public Parameter<T>? CharConvWeight { get; }
    /// <summary>[CharFilters] (char CNN), or null.</summary>
    public Parameter<T>? CharConvBias { get; }
    /// <summary>[shapes, ShapeDim], or null.</summary>
    public Parameter<T>? ShapeEmbedding { get; }
    /// <summary>Flat weight space of the sentence RNN (engine layout).</summary>
    public Parameter<T> RnnWeights { get; }
    /// <summary>[tags, OutputSize].</summary>
    public Parameter<T> OutputWeight { get; }
    /// <summary>[tags].</summary>
    public Parameter<T> OutputBias { get; }

    /// <summary>Number of trainable values.</summary>
    public long ParameterCount => _parameters.Sum(p => (long)p.Count);

    /// <summary>
    /// The master weights of an RNN: in engine memory, read in place by the workers' layers (<see cref="Parameter{T}.Allocate"/>),
    /// or, for mixed precision, host arrays that the workers cast to their 16-bit layers each forward.
    /// </summary>
    private Parameter<T> RnnMaster(string name, RnnWeightLayout layout) => Precision.IsMixed()
        ? new Parameter<T>(name, checked((int)layout.TotalElements))
        : Parameter<T>.Allocate(Engine, name, checked((int)layout.TotalElements));

    private Parameter<T> Add(Parameter<T> p)
    {
        _parameters.Add(p);
        return p;
    }

    /// <summary>Re-initialises every parameter from <paramref name="seed"/>.</summary>
    public void Initialize(ulong seed)
    {
        var rng = new SeededRandom(seed);
        rng.FillUniform<T>(WordEmbedding.Value, Math.Sqrt(3.0 / Hyper.WordDim));
        WordEmbedding.Value.AsSpan(0, Hyper.WordDim).Clear(); // padding row
        if (CharEmbedding is not null) rng.FillUniform<T>(CharEmbedding.Value, Math.Sqrt(3.0 / Hyper.CharDim));
        if (ShapeEmbedding is not null) rng.FillUniform<T>(ShapeEmbedding.Value, Math.Sqrt(3.0 / Hyper.ShapeDim));
        if (CharConvWeight is not null)
        {
            double kc = 1 / Math.Sqrt(Hyper.CharDim * CharKernel);
            rng.FillUniform<T>(CharConvWeight.Value, kc);
            rng.FillUniform<T>(CharConvBias!.Value, kc);
        }
        if (CharRnnWeights is not null) InitRnn(CharRnnLayout!, CharRnnWeights, Hyper.CharHidden, ref rng);
        InitRnn(RnnLayout, RnnWeights, Hyper.Hidden, ref rng);
        double k = 1 / Math.Sqrt(Hyper.OutputSize);
        rng.FillUniform<T>(OutputWeight.Value, k);
        rng.FillUniform<T>(OutputBias.Value, k);
    }

    /// <summary>PyTorch's RNN init (uniform ±1/√hidden), plus LSTM forget-gate input bias 1 (helps short budgets).</summary>
    private static void InitRnn(RnnWeightLayout layout, Parameter<T> weights, int hidden, ref SeededRandom rng)
    {
        var weightSpace = new T[weights.Count];
        double k = 1 / Math.Sqrt(hidden);
        bool lstm = layout.Descriptor.Mode == RnnMode.Lstm;
        foreach (var p in layout.PyTorchParameters)
        {
            var v = new T[p.Count];
            rng.FillUniform<T>(v, k);
            if (lstm && p.Name.StartsWith("bias_ih", StringComparison.Ordinal))
                v.AsSpan(hidden, hidden).Fill(T.One);
            layout.ImportPyTorch<T>(weightSpace, p.Name, v);
        }
        weights.CopyValueFrom(weightSpace);
    }

    /// <summary>Worker <paramref name="index"/> (created on first use; worker 0 accumulates into the master gradients).</summary>
    public TaggerWorker<T> GetWorker(int index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (_workers.Count <= index) _workers.Add(new TaggerWorker<T>(this, ownGradients: _workers.Count > 0));
        return _workers[index];
    }

    /// <summary>
    /// Predicts tag ids for each sentence (no dropout), on up to <paramref name="threads"/> workers (0: every core on a
    /// host-memory engine; a device engine runs one, see <see cref="WorkerCount.For"/>).
    /// </summary>
    public int[][] PredictIds(IReadOnlyList<string[]> sentences, int threads = 1, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        var result = new int[sentences.Count][];
        for (int i = 0; i < result.Length; i++) result[i] = new int[sentences[i].Length];
        var nonEmpty = Enumerable.Range(0, sentences.Count).Where(i => sentences[i].Length > 0).ToArray();
        var lengths = nonEmpty.Select(i => sentences[i].Length).ToArray();
        var batches = LengthBuckets.Create(lengths, batchSize, 4000).Select(b => b.Select(j => nonEmpty[j]).ToArray()).ToList();
        threads = Math.Max(1, Math.Min(WorkerCount.For(Engine, threads), batches.Count));
        for (int w = 0; w < threads; w++) GetWorker(w);
        if (threads == 1)
            foreach (var b in batches) _workers[0].Predict(sentences, b, result);
        else
        {
            int next = -1;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < batches.Count) _workers[w].Predict(sentences, batches[i], result);
            });
        }
        return result;
    }

    /// <summary>Predicts tags for each sentence.</summary>
    public string[][] Predict(IReadOnlyList<string[]> sentences, int threads = 1) =>
        PredictIds(sentences, threads).Select(ids => ids.Select(id => Tags[id]).ToArray()).ToArray();

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var w in _workers) w.Dispose();
        _workers.Clear();
        foreach (var p in _parameters) p.Dispose();
    }
}
