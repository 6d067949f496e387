namespace CudnnRnn.Training;

/// <summary>
/// The precision a training run computes its RNNs in. The master weights, the optimizer and the layers outside the
/// RNN stay in float32 in every mode (as <c>torch.autocast</c> keeps some operations in float32); only the RNN's
/// weight space, data and gradients on the engine are 16-bit in <see cref="Fp16"/> and <see cref="Bf16"/>.
/// </summary>
public enum Precision
{
    /// <summary>Everything in float32 (or the trainer's element type).</summary>
    Fp32,
    /// <summary>
    /// The RNN in IEEE binary16 (<see cref="Half"/>) with float32 master weights and dynamic loss scaling
    /// (<see cref="GradScaler"/>): float16's range (±65504, subnormals below 2⁻¹⁴) is too narrow for small gradients.
    /// </summary>
    Fp16,
    /// <summary>
    /// The RNN in bfloat16 (<see cref="CudnnRnn.BFloat16"/>) with float32 master weights and no loss scaling: bfloat16
    /// has float32's exponent range, so gradients neither underflow nor overflow where float32's would not.
    /// </summary>
    Bf16,
}

/// <summary>Names and properties of <see cref="Precision"/> values.</summary>
public static class PrecisionInfo
{
    /// <summary>The words the CLI accepts, in <see cref="Precision"/> order.</summary>
    public static IReadOnlyList<string> Words { get; } = ["fp32", "fp16", "bf16"];

    /// <summary>The CLI word of <paramref name="precision"/> ("fp32", "fp16", "bf16").</summary>
    public static string Word(this Precision precision) => precision switch
    {
        Precision.Fp32 => "fp32",
        Precision.Fp16 => "fp16",
        Precision.Bf16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Expected Fp32, Fp16 or Bf16."),
    };

    /// <summary>Parses a CLI word (case-insensitive); throws <see cref="ArgumentException"/> naming the accepted words.</summary>
    public static Precision Parse(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        for (int i = 0; i < Words.Count; i++)
            if (string.Equals(word, Words[i], StringComparison.OrdinalIgnoreCase)) return (Precision)i;
        throw new ArgumentException($"Unknown precision '{word}'; expected one of {string.Join(", ", Words)}.", nameof(word));
    }

    /// <summary>The engine data type the RNN runs in, for a float32 master copy.</summary>
    public static RnnDataType ToRnnDataType(this Precision precision) => precision switch
    {
        Precision.Fp32 => RnnDataType.Float32,
        Precision.Fp16 => RnnDataType.Float16,
        Precision.Bf16 => RnnDataType.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Expected Fp32, Fp16 or Bf16."),
    };

    /// <summary>True for the 16-bit precisions (the RNN runs on a cast of float32 master weights).</summary>
    public static bool IsMixed(this Precision precision) => precision is Precision.Fp16 or Precision.Bf16;

    /// <summary>True when the precision needs dynamic loss scaling (float16 only, as PyTorch's AMP recipe).</summary>
    public static bool NeedsLossScaling(this Precision precision) => precision == Precision.Fp16;
}

/// <summary>Settings of <see cref="GradScaler"/>; the defaults are PyTorch's <c>torch.amp.GradScaler</c>'s.</summary>
public sealed record GradScalerOptions
{
    /// <summary>Scale of the first step (PyTorch: <c>init_scale=2.**16</c>).</summary>
    public float InitScale { get; init; } = 65536f;
    /// <summary>Factor applied after <see cref="GrowthInterval"/> consecutive finite steps (PyTorch: 2.0); must exceed 1.</summary>
    public double GrowthFactor { get; init; } = 2.0;
    /// <summary>Factor applied after a step with an Inf or NaN gradient (PyTorch: 0.5); must be in (0, 1).</summary>
    public double BackoffFactor { get; init; } = 0.5;
    /// <summary>Consecutive finite steps before the scale grows (PyTorch: 2000).</summary>
    public int GrowthInterval { get; init; } = 2000;
    /// <summary>
    /// After this many skipped steps in a row the scaler throws <see cref="TrainingDivergedException"/> instead of
    /// skipping again (PyTorch keeps halving forever). 32 halvings take the initial 2¹⁶ down to 2⁻¹⁶: a float16
    /// gradient that still overflows then is beyond 65504 · 2¹⁶ unscaled, which no scale cures.
    /// </summary>
    public int MaxConsecutiveSkippedSteps { get; init; } = 32;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(float.IsFinite(InitScale) && InitScale > 0))
            throw new ArgumentOutOfRangeException(nameof(InitScale), InitScale, "The initial scale must be positive and finite.");
        if (!(GrowthFactor > 1 && double.IsFinite(GrowthFactor)))
            throw new ArgumentOutOfRangeException(nameof(GrowthFactor), GrowthFactor, "The growth factor must be > 1 (PyTorch asserts the same).");
        if (!(BackoffFactor > 0 && BackoffFactor < 1))
            throw new ArgumentOutOfRangeException(nameof(BackoffFactor), BackoffFactor, "The backoff factor must be in (0, 1).");
        if (GrowthInterval < 1)
            throw new ArgumentOutOfRangeException(nameof(GrowthInterval), GrowthInterval, "The growth interval must be at least 1.");
        if (MaxConsecutiveSkippedSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxConsecutiveSkippedSteps), MaxConsecutiveSkippedSteps, "Expected a count ≥ 0.");
    }
}
