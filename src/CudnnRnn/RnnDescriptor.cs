namespace CudnnRnn;

/// <summary>
/// Describes a whole (multi-layer, possibly bidirectional) recurrent network: the role <c>cudnnRNNDescriptor_t</c> plays
/// in cuDNN. Immutable; every argument is checked by the constructor, so an instance is always valid.
/// </summary>
public sealed class RnnDescriptor : IEquatable<RnnDescriptor>
{
    /// <summary>Creates and validates a descriptor.</summary>
    /// <param name="mode">Cell type.</param>
    /// <param name="inputSize">Width of the input vectors of layer 0 (≥ 1).</param>
    /// <param name="hiddenSize">Number of units per gate (≥ 1).</param>
    /// <param name="numLayers">Number of stacked layers (≥ 1).</param>
    /// <param name="direction">Unidirectional or bidirectional.</param>
    /// <param name="projSize">LSTM recurrent projection width, 1..hiddenSize. <c>null</c> or hiddenSize means no projection.</param>
    /// <param name="biasMode">Which bias vectors exist.</param>
    /// <param name="inputMode">Linear or skip input for layer 0.</param>
    /// <param name="dataType">Element type of data and weights.</param>
    /// <param name="dropout">Dropout probability between layers in training, in [0, 1), also after rounding to float32
    /// (at most <see cref="MaxDropout"/>).</param>
    /// <param name="dropoutSeed">Seed of the dropout masks.</param>
    /// <param name="cellClip">LSTM cell clipping, or <c>null</c> for none.</param>
    public RnnDescriptor(
        RnnMode mode,
        int inputSize,
        int hiddenSize,
        int numLayers = 1,
        RnnDirection direction = RnnDirection.Unidirectional,
        int? projSize = null,
        RnnBiasMode biasMode = RnnBiasMode.Double,
        RnnInputMode inputMode = RnnInputMode.Linear,
        RnnDataType dataType = RnnDataType.Float32,
        double dropout = 0.0,
        ulong dropoutSeed = 0,
        RnnCellClip? cellClip = null)
    {
        if (!Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Expected RnnRelu, RnnTanh, Lstm or Gru.");
        if (!Enum.IsDefined(direction))
            throw new ArgumentOutOfRangeException(nameof(direction), direction, "Expected Unidirectional or Bidirectional.");
        if (!Enum.IsDefined(biasMode))
            throw new ArgumentOutOfRangeException(nameof(biasMode), biasMode, "Expected None, SingleInput, Double or SingleRecurrent.");
        if (!Enum.IsDefined(inputMode))
            throw new ArgumentOutOfRangeException(nameof(inputMode), inputMode, "Expected Linear or Skip.");
        if (!Enum.IsDefined(dataType))
            throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Expected Float32, Float64, Float16 or BFloat16.");
        if (inputSize < 1)
            throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "inputSize must be at least 1.");
        if (hiddenSize < 1)
            throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "hiddenSize must be at least 1.");
        if (numLayers < 1)
            throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "numLayers must be at least 1.");
        int proj = projSize ?? hiddenSize;
        if (proj < 1 || proj > hiddenSize)
            throw new ArgumentOutOfRangeException(nameof(projSize), projSize,
                $"projSize must be in 1..hiddenSize ({hiddenSize}); equal to hiddenSize (or null) means no projection.");
        if (proj != hiddenSize && mode != RnnMode.Lstm)
            throw new ArgumentException(
                $"projSize {proj} != hiddenSize {hiddenSize} asks for a recurrent projection, which exists for Lstm only (mode is {mode}).",
                nameof(projSize));
        if (inputMode == RnnInputMode.Skip && inputSize != hiddenSize)
            throw new ArgumentException(
                $"Skip input adds x to every gate, so inputSize must equal hiddenSize; got inputSize {inputSize}, hiddenSize {hiddenSize}.",
                nameof(inputMode));
        if (!(dropout >= 0.0 && dropout < 1.0))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");
        // cuDNN stores the probability as a float (cudnnSetDropoutDescriptor's dropout argument): a double just below 1
        // rounds to 1.0f there and is refused, while a double engine would accept it. One rule for every engine.
        if ((float)dropout >= 1f)
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout,
                $"dropout must be in [0, 1) also after rounding to float32 (cuDNN keeps it as a float); {dropout:R} rounds to 1.0f. " +
                $"The largest accepted value is {MaxDropout:R}.");
        if (cellClip is { } clip)
        {
            if (mode != RnnMode.Lstm)
                throw new ArgumentException($"Cell clipping exists for Lstm only (mode is {mode}).", nameof(cellClip));
            if (double.IsNaN(clip.Min) || double.IsNaN(clip.Max))
                throw new ArgumentOutOfRangeException(nameof(cellClip), clip, "Clip bounds must not be NaN.");
            if (clip.Min > clip.Max)
                throw new ArgumentOutOfRangeException(nameof(cellClip), clip, $"Clip min ({clip.Min}) must not exceed max ({clip.Max}).");
            if (!Enum.IsDefined(clip.Nan))
                throw new ArgumentOutOfRangeException(nameof(cellClip), clip, "Expected ClipNanMode.NotPropagate or Propagate.");
        }

        // Derived sizes are ints in the API (Gates·HiddenSize is the row count of weight_ih, OutputSize a vector width) and
        // the weight count is a 64-bit product: refuse what would overflow them, naming the limit.
        int dirs = direction == RnnDirection.Bidirectional ? 2 : 1;
        if ((long)GatesOf(mode) * hiddenSize > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize,
                $"gates × hiddenSize = {GatesOf(mode)} × {hiddenSize} is the row count of each weight matrix and must be at most {int.MaxValue}.");
        if ((long)dirs * proj > int.MaxValue)
            throw new ArgumentOutOfRangeException(proj == hiddenSize ? nameof(hiddenSize) : nameof(projSize), proj,
                $"directions × state size = {dirs} × {proj} is the width of y and must be at most {int.MaxValue}.");
        long tableEntries = (long)numLayers * dirs * (mode == RnnMode.Lstm ? 9 : 2 * GatesOf(mode));
        if (tableEntries > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers,
                $"numLayers {numLayers} needs a weight-layout table of {tableEntries} entries; the limit is {Array.MaxLength}.");

        Mode = mode;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        Direction = direction;
        ProjSize = proj;
        BiasMode = biasMode;
        InputMode = inputMode;
        DataType = dataType;
        Dropout = dropout;
        DropoutSeed = dropoutSeed;
        CellClip = cellClip;
        CanonicalWeightCount = CountCanonicalWeights(this);
        if (CanonicalWeightCount > RnnDataDescriptor.MaxElementCount)
            throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers,
                $"The weight space of {this} would hold {(CanonicalWeightCount == long.MaxValue ? "more than 2^63" : CanonicalWeightCount.ToString(System.Globalization.CultureInfo.InvariantCulture))} " +
                $"elements; the limit is RnnDataDescriptor.MaxElementCount = {RnnDataDescriptor.MaxElementCount}.");
    }

    /// <summary>The largest dropout probability accepted: the largest float below 1 (1 − 2^-24).</summary>
    public const double MaxDropout = 1.0 - 1.0 / (1 << 24);

    /// <summary>
    /// Elements of the canonical weight space (<see cref="RnnWeightLayout.Canonical"/>'s TotalElements), a 64-bit count
    /// computed without building the layout, so engines can check it against what they can address first.
    /// </summary>
    public long CanonicalWeightCount { get; }

    /// <summary>The canonical weight count, or long.MaxValue when it does not fit in 64 bits.</summary>
    private static long CountCanonicalWeights(RnnDescriptor rnn)
    {
        try
        {
            checked
            {
                long gh = (long)rnn.Gates * rnn.HiddenSize;
                long recurrent = gh * rnn.StateSize;
                long biases = (rnn.HasInputBias ? gh : 0) + (rnn.HasRecurrentBias ? gh : 0);
                long projection = rnn.HasProjection ? (long)rnn.ProjSize * rnn.HiddenSize : 0;
                long perPseudoLayer = recurrent + biases + projection;
                long layer0Input = rnn.InputMode == RnnInputMode.Skip ? 0 : gh * rnn.InputSize;
                long deeperInput = gh * rnn.OutputSize;
                long layer0 = (layer0Input + perPseudoLayer) * rnn.NumDirections;
                long deeper = (deeperInput + perPseudoLayer) * rnn.NumDirections * (rnn.NumLayers - 1L);
                return layer0 + deeper;
            }
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>Cell type.</summary>
    public RnnMode Mode { get; }
    /// <summary>Width of layer 0's input.</summary>
    public int InputSize { get; }
    /// <summary>Units per gate (width of c for LSTM).</summary>
    public int HiddenSize { get; }
    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }
    /// <summary>Direction mode.</summary>
    public RnnDirection Direction { get; }
    /// <summary>Projection width; equals <see cref="HiddenSize"/> when there is no projection (as cuDNN's projSize).</summary>
    public int ProjSize { get; }
    /// <summary>Bias mode.</summary>
    public RnnBiasMode BiasMode { get; }
    /// <summary>Input mode of layer 0.</summary>
    public RnnInputMode InputMode { get; }
    /// <summary>Element type.</summary>
    public RnnDataType DataType { get; }
    /// <summary>Dropout probability between layers (training only).</summary>
    public double Dropout { get; }
    /// <summary>Seed of the dropout masks.</summary>
    public ulong DropoutSeed { get; }
    /// <summary>LSTM cell clipping, if any.</summary>
    public RnnCellClip? CellClip { get; }

    /// <summary>1 or 2.</summary>
    public int NumDirections => Direction == RnnDirection.Bidirectional ? 2 : 1;
    /// <summary>Gates per cell: 1 (RNN), 3 (GRU), 4 (LSTM).</summary>
    public int Gates => GatesOf(Mode);
    /// <summary>True when an LSTM projection is on (<see cref="ProjSize"/> &lt; <see cref="HiddenSize"/>).</summary>
    public bool HasProjection => ProjSize != HiddenSize;
    /// <summary>Width of h, hx, hy and of each direction's half of y: ProjSize (equal to HiddenSize without projection).</summary>
    public int StateSize => ProjSize;
    /// <summary>Width of y: NumDirections × StateSize.</summary>
    public int OutputSize => NumDirections * StateSize;
    /// <summary>Number of pseudo-layers (layer × directions), the first dimension of hx/cx/hy/cy.</summary>
    public int PseudoLayerCount => NumLayers * NumDirections;
    /// <summary>True when bW exists.</summary>
    public bool HasInputBias => BiasMode is RnnBiasMode.Double or RnnBiasMode.SingleInput;
    /// <summary>True when bR exists.</summary>
    public bool HasRecurrentBias => BiasMode is RnnBiasMode.Double or RnnBiasMode.SingleRecurrent;
    /// <summary>Number of linear-layer ids per pseudo-layer in cuDNN's numbering (2·gates, plus 1 for the LSTM projection id 8).</summary>
    public int LinLayerIdCount => Mode == RnnMode.Lstm ? 9 : 2 * Gates;

    /// <summary>Width of the input of <paramref name="layer"/>: InputSize for layer 0, else NumDirections × StateSize.</summary>
    public int LayerInputSize(int layer) => layer == 0 ? InputSize : OutputSize;

    /// <summary>Element type as a .NET type.</summary>
    public Type ElementType => DataType switch
    {
        RnnDataType.Float32 => typeof(float),
        RnnDataType.Float64 => typeof(double),
        RnnDataType.Float16 => typeof(Half),
        RnnDataType.BFloat16 => typeof(BFloat16),
        _ => throw new NotSupportedException($"{DataType} has no .NET element type in this build."),
    };

    /// <summary>Gates per cell for a mode.</summary>
    public static int GatesOf(RnnMode mode) => mode switch
    {
        RnnMode.Lstm => 4,
        RnnMode.Gru => 3,
        _ => 1,
    };

    /// <summary>The <see cref="RnnDataType"/> matching a .NET element type.</summary>
    public static RnnDataType DataTypeOf<T>() =>
        typeof(T) == typeof(float) ? RnnDataType.Float32
        : typeof(T) == typeof(double) ? RnnDataType.Float64
        : typeof(T) == typeof(Half) ? RnnDataType.Float16
        : typeof(T) == typeof(BFloat16) ? RnnDataType.BFloat16
        : throw new NotSupportedException($"Element type {typeof(T)} is not supported; expected float, double, System.Half or CudnnRnn.BFloat16.");

    /// <summary>A copy with other dropout settings (the layer object switches dropout for evaluation this way).</summary>
    public RnnDescriptor WithDropout(double dropout, ulong seed) =>
        new(Mode, InputSize, HiddenSize, NumLayers, Direction, ProjSize, BiasMode, InputMode, DataType, dropout, seed, CellClip);

    /// <summary>A copy with another data type.</summary>
    public RnnDescriptor WithDataType(RnnDataType dataType) =>
        new(Mode, InputSize, HiddenSize, NumLayers, Direction, ProjSize, BiasMode, InputMode, dataType, Dropout, DropoutSeed, CellClip);

    private (RnnMode, int, int, int, RnnDirection, int, RnnBiasMode, RnnInputMode, RnnDataType, double, ulong, RnnCellClip?) Key =>
        (Mode, InputSize, HiddenSize, NumLayers, Direction, ProjSize, BiasMode, InputMode, DataType, Dropout, DropoutSeed, CellClip);

    /// <inheritdoc/>
    public bool Equals(RnnDescriptor? other) => other is not null && Key.Equals(other.Key);
    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as RnnDescriptor);
    /// <inheritdoc/>
    public override int GetHashCode() => Key.GetHashCode();

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Mode} in={InputSize} hidden={HiddenSize}{(HasProjection ? $" proj={ProjSize}" : "")} layers={NumLayers} {Direction} " +
        $"bias={BiasMode} input={InputMode} {DataType}{(Dropout > 0 ? $" dropout={Dropout}" : "")}" +
        (CellClip is { } c ? $" clip=[{c.Min},{c.Max}]" : "");
}
