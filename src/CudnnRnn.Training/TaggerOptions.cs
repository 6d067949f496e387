using System.Text.Json;
using System.Text.Json.Serialization;

namespace CudnnRnn.Training;

/// <summary>Where a word's character features come from.</summary>
[JsonConverter(typeof(CharModelJsonConverter))]
public enum CharModel
{
    /// <summary>No character features (the word embedding and the shape feature only).</summary>
    None,
    /// <summary>Convolution of width 3 over the characters + max-pooling over the word (as Ma &amp; Hovy 2016; cheap).</summary>
    Cnn,
    /// <summary>A BiLSTM over the word's characters through the engine, final states concatenated.</summary>
    Lstm,
}

/// <summary>Model files store <see cref="CharModel"/> as "none", "cnn" or "lstm" (the strings of version 0.1).</summary>
public sealed class CharModelJsonConverter() : JsonStringEnumConverter<CharModel>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false);

/// <summary>The optimizer a <see cref="TaggerTrainer{T}"/> runs.</summary>
public enum OptimizerKind
{
    /// <summary><see cref="Adam{T}"/> (β1 0.9, β2 <see cref="TrainingOptions.Beta2"/>).</summary>
    Adam,
    /// <summary><see cref="Sgd{T}"/> with <see cref="TrainingOptions.Momentum"/>.</summary>
    Sgd,
}

/// <summary>Architecture of a <see cref="Tagger{T}"/>: stored in model files, so a loaded model rebuilds exactly.</summary>
public sealed record TaggerHyperParameters : IJsonOnDeserialized
{
    private CharModel _charModel = CharModel.Cnn;

    /// <summary>Cell of the sentence-level RNN.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<RnnMode>))]
    public RnnMode Mode { get; init; } = RnnMode.Lstm;
    /// <summary>Word embedding width.</summary>
    public int WordDim { get; init; } = 100;
    /// <summary>Character embedding width (used unless <see cref="CharModel"/> is <see cref="Training.CharModel.None"/>).</summary>
    public int CharDim { get; init; } = 32;
    /// <summary>Character feature model: <see cref="Training.CharModel.Cnn"/> (default), <see cref="Training.CharModel.Lstm"/> or <see cref="Training.CharModel.None"/>.</summary>
    public CharModel CharModel { get => _charModel; init => _charModel = value; }
    /// <summary>Hidden units per direction of the character BiLSTM (its feature is twice this).</summary>
    public int CharHidden { get; init; } = 64;
    /// <summary>Filters of the character CNN (its feature width).</summary>
    public int CharFilters { get; init; } = 64;
    /// <summary>Word-shape embedding width; 0 turns the shape feature off.</summary>
    public int ShapeDim { get; init; } = 8;
    /// <summary>Hidden units per direction of the sentence RNN.</summary>
    public int Hidden { get; init; } = 128;
    /// <summary>Stacked sentence RNN layers.</summary>
    public int Layers { get; init; } = 2;
    /// <summary>Bidirectional sentence RNN (false: forward only, for comparison).</summary>
    public bool Bidirectional { get; init; } = true;
    /// <summary>Dropout on the input vectors (embeddings).</summary>
    public double EmbeddingDropout { get; init; } = 0.33;
    /// <summary>Dropout between RNN layers and before the output layer.</summary>
    public double Dropout { get; init; } = 0.33;
    /// <summary>Word dropout α: a training word is replaced by the unknown id with probability α/(α + its count).</summary>
    public double WordDropout { get; init; } = 0.25;
    /// <summary>Words seen fewer times in training get the unknown id.</summary>
    public int MinWordFrequency { get; init; } = 2;
    /// <summary>Lowercase words for the word embedding (case still reaches the model through chars and shape).</summary>
    public bool Lowercase { get; init; } = true;
    /// <summary>Map digits 1–9 to 0 for the word embedding.</summary>
    public bool NormalizeDigits { get; init; } = true;
    /// <summary>Longer words keep their first and last halves of this many characters.</summary>
    public int MaxCharsPerWord { get; init; } = 20;

    /// <summary>True when character features are on (CNN or BiLSTM).</summary>
    [JsonIgnore] public bool UsesChars => CharModel != CharModel.None;
    /// <summary>True when the char features come from the BiLSTM (else the CNN).</summary>
    [JsonIgnore] public bool UsesCharLstm => CharModel == CharModel.Lstm;
    /// <summary>Width of the character feature of a word.</summary>
    [JsonIgnore] public int CharFeatureSize => !UsesChars ? 0 : UsesCharLstm ? 2 * CharHidden : CharFilters;
    /// <summary>True when the shape feature is on.</summary>
    [JsonIgnore] public bool UsesShape => ShapeDim > 0;
    /// <summary>Width of the sentence RNN's input vector.</summary>
    [JsonIgnore] public int InputSize => WordDim + CharFeatureSize + (UsesShape ? ShapeDim : 0);
    /// <summary>Width of the sentence RNN's output.</summary>
    [JsonIgnore] public int OutputSize => (Bidirectional ? 2 : 1) * Hidden;

    /// <summary>Throws <see cref="ArgumentException"/> on an invalid combination.</summary>
    public void Validate()
    {
        if (WordDim < 1) throw new ArgumentException("WordDim must be at least 1.");
        if (CharDim < 0 || ShapeDim < 0) throw new ArgumentException("CharDim and ShapeDim must not be negative.");
        if (!Enum.IsDefined(CharModel)) throw new ArgumentException($"CharModel must be None, Cnn or Lstm, not {(int)CharModel}.");
        if (UsesChars && CharDim < 1)
            throw new ArgumentException($"CharDim must be at least 1 with CharModel {CharModel}; CharModel.None turns character features off.");
        if (UsesChars && (CharHidden < 1 || CharFilters < 1)) throw new ArgumentException("CharHidden and CharFilters must be at least 1 when char features are on.");
        if (Hidden < 1 || Layers < 1) throw new ArgumentException("Hidden and Layers must be at least 1.");
        if (EmbeddingDropout is < 0 or >= 1 || Dropout is < 0 or >= 1) throw new ArgumentException("Dropout probabilities must be in [0, 1).");
        if (WordDropout < 0) throw new ArgumentException("WordDropout must not be negative.");
        if (MinWordFrequency < 1) throw new ArgumentException("MinWordFrequency must be at least 1.");
        if (MaxCharsPerWord < 2) throw new ArgumentException("MaxCharsPerWord must be at least 2.");
    }

    /// <summary>
    /// Model files of version 0.1 turned character features off with <c>"CharModel": "cnn", "CharDim": 0</c>; such a
    /// file reads as <see cref="Training.CharModel.None"/>, the model it describes.
    /// </summary>
    void IJsonOnDeserialized.OnDeserialized()
    {
        if (CharDim == 0 && _charModel != CharModel.None) _charModel = CharModel.None;
    }
}

/// <summary>Settings of a training run (not stored in the model).</summary>
public sealed record TrainingOptions
{
    /// <summary>Maximum number of epochs.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Wall-clock budget; training stops (after evaluating) when it runs out. Null: no limit.</summary>
    public TimeSpan? TimeLimit { get; init; }
    /// <summary>Sentences per batch.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>
    /// Batches of sentences of one length only: batch shapes then repeat from batch to batch and epoch to epoch, so
    /// an <see cref="RnnLayer{T}"/> reuses its cached plan and buffers instead of building new ones for every batch.
    /// </summary>
    public bool SameLengthBatches { get; init; }
    /// <summary>Tokens per batch at most.</summary>
    public int MaxBatchTokens { get; init; } = 2000;
    /// <summary>The optimizer.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    /// <summary>Base learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Adam β2 (0.9 as in Dozat &amp; Manning's taggers works better than 0.999 for short budgets).</summary>
    public double Beta2 { get; init; } = 0.9;
    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>Global gradient-norm clipping threshold.</summary>
    public double ClipNorm { get; init; } = 5.0;
    /// <summary>Learning-rate schedule over the budget (the larger of epoch and time fractions used).</summary>
    public LearningRateSchedule Schedule { get; init; } = new LearningRateSchedule.Cosine(0.05, 0.02);
    /// <summary>Seed of initialisation, dropout and batch order.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>
    /// The precision the RNNs run in: <see cref="Training.Precision.Fp16"/> or <see cref="Training.Precision.Bf16"/>
    /// train in mixed precision (16-bit RNN cast each step from float32 master weights; the optimizer, the embeddings and
    /// the output layer stay float32), float16 with dynamic loss scaling (<see cref="Training.GradScaler"/>).
    /// </summary>
    public Precision Precision { get; init; } = Precision.Fp32;
    /// <summary>Loss scaling of <see cref="Training.Precision.Fp16"/> runs (PyTorch GradScaler's defaults).</summary>
    public GradScalerOptions GradScaler { get; init; } = new();
    /// <summary>
    /// Worker threads (data-parallel replicas of the network, gradients summed); 0 = all cores on a host-memory engine,
    /// one on a device engine (see <see cref="WorkerCount.For"/>).
    /// </summary>
    public int Threads { get; init; }
}
