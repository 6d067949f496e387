using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>Where a <see cref="GradScaler"/> is in its iteration (PyTorch's <c>OptState</c>).</summary>
public enum GradScalerStage
{
    /// <summary>After <see cref="GradScaler.Update()"/> (or creation): gradients are still scaled.</summary>
    Ready,
    /// <summary>After <see cref="GradScaler.Unscale{T}"/>: gradients are unscaled and checked.</summary>
    Unscaled,
    /// <summary>After <see cref="GradScaler.Step{T}"/>: the optimizer step was applied or skipped.</summary>
    Stepped,
}

/// <summary>
/// The state of a <see cref="GradScaler"/> (PyTorch's <c>state_dict()</c>: scale, growth and backoff factors, growth
/// interval and growth tracker, plus the skipped-step counters), as checkpoints store it.
/// </summary>
/// <param name="Scale">Current scale.</param>
/// <param name="GrowthTracker">Consecutive finite steps since the scale last changed or a step was skipped.</param>
/// <param name="GrowthFactor">Growth factor.</param>
/// <param name="BackoffFactor">Backoff factor.</param>
/// <param name="GrowthInterval">Growth interval.</param>
/// <param name="SkippedSteps">Steps skipped in total.</param>
/// <param name="ConsecutiveSkippedSteps">Steps skipped since the last applied one.</param>
public sealed record GradScalerState(float Scale, int GrowthTracker, double GrowthFactor, double BackoffFactor, int GrowthInterval,
    long SkippedSteps, int ConsecutiveSkippedSteps)
{
    private const string Prefix = "grad_scaler.";

    /// <summary>The state as metadata strings (round-trip formats: reading them back gives the same bits).</summary>
    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        var c = CultureInfo.InvariantCulture;
        yield return new(Prefix + "scale", Scale.ToString("R", c));
        yield return new(Prefix + "growth_tracker", GrowthTracker.ToString(c));
        yield return new(Prefix + "growth_factor", GrowthFactor.ToString("R", c));
        yield return new(Prefix + "backoff_factor", BackoffFactor.ToString("R", c));
        yield return new(Prefix + "growth_interval", GrowthInterval.ToString(c));
        yield return new(Prefix + "skipped_steps", SkippedSteps.ToString(c));
        yield return new(Prefix + "consecutive_skipped_steps", ConsecutiveSkippedSteps.ToString(c));
    }

    /// <summary>True when <paramref name="metadata"/> holds a scaler state.</summary>
    public static bool IsIn(IReadOnlyDictionary<string, string> metadata) => metadata.ContainsKey(Prefix + "scale");

    /// <summary>Reads the state written by <see cref="ToMetadata"/>; throws <see cref="ModelFormatException"/> naming the key otherwise.</summary>
    public static GradScalerState FromMetadata(IReadOnlyDictionary<string, string> metadata, string path)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var c = CultureInfo.InvariantCulture;
        string Get(string key) => metadata.TryGetValue(Prefix + key, out var v) ? v
            : throw new ModelFormatException(path, $"metadata '{Prefix + key}' is missing");
        T Parse<T>(string key) where T : ISpanParsable<T>
        {
            string s = Get(key);
            return T.TryParse(s, c, out var v) ? v : throw new ModelFormatException(path, $"metadata '{Prefix + key}' is '{s}', not a {typeof(T).Name}");
        }
        var state = new GradScalerState(Parse<float>("scale"), Parse<int>("growth_tracker"), Parse<double>("growth_factor"),
            Parse<double>("backoff_factor"), Parse<int>("growth_interval"), Parse<long>("skipped_steps"), Parse<int>("consecutive_skipped_steps"));
        try
        {
            state.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException(path, $"the gradient scaler state is invalid: {e.Message}", e);
        }
        return state;
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a state no scaler can be in.</summary>
    public void Validate()
    {
        if (!(float.IsFinite(Scale) && Scale > 0)) throw new ArgumentOutOfRangeException(nameof(Scale), Scale, "The scale must be positive and finite.");
        new GradScalerOptions { InitScale = Scale, GrowthFactor = GrowthFactor, BackoffFactor = BackoffFactor, GrowthInterval = GrowthInterval }.Validate();
        if (GrowthTracker < 0 || GrowthTracker >= GrowthInterval)
            throw new ArgumentOutOfRangeException(nameof(GrowthTracker), GrowthTracker, $"The growth tracker must be in [0, {GrowthInterval}).");
        if (SkippedSteps < 0 || ConsecutiveSkippedSteps < 0 || ConsecutiveSkippedSteps > SkippedSteps)
            throw new ArgumentOutOfRangeException(nameof(SkippedSteps), SkippedSteps, "Skipped-step counts must be ≥ 0, consecutive ≤ total.");
    }
}

/// <summary>
/// Dynamic loss scaling for float16 training, with the semantics of PyTorch's <c>torch.amp.GradScaler</c>
/// (<c>torch/amp/grad_scaler.py</c> and the <c>_amp_update_scale_</c> /
/// <c>_amp_foreach_non_finite_check_and_unscale_</c> kernels): the loss is multiplied by <see cref="Scale"/> before
/// backward, so small gradients survive float16; <see cref="Unscale{T}"/> multiplies every gradient by
/// <c>(float)(1 / (double)scale)</c> in float32 and records whether any is Inf or NaN; <see cref="Step{T}"/> skips the
/// optimizer step when one is; <see cref="Update()"/> then halves the scale (backoff) and resets the growth tracker, or,
/// after a finite step, increments the tracker and doubles the scale when it reaches the growth interval (resetting
/// it; a growth that would overflow float32 is not applied, but the tracker still resets).
/// </summary>
/// <remarks>
/// Differences from PyTorch, both stricter: the non-finite check runs on the unscaled values, so it also catches a
/// finite gradient that unscaling by a scale below 1 overflows (PyTorch checks before multiplying and would hand that
/// ∞ to the optimizer); and more than <see cref="GradScalerOptions.MaxConsecutiveSkippedSteps"/> skipped steps in a row
/// throw <see cref="TrainingDivergedException"/> instead of halving the scale forever. A non-finite loss passed to
/// <see cref="Step{T}"/> counts as a non-finite gradient. A disabled scaler (bfloat16, float32) has scale 1 and passes
/// <see cref="Step{T}"/> straight to <see cref="Optimizer{T}.Step"/>, which does its own non-finite check.
/// </remarks>
public sealed class GradScaler
{
    private float _scale;
    private int _growthTracker;
    private bool _foundInf;

    /// <summary>Creates a scaler at <see cref="GradScalerOptions.InitScale"/>.</summary>
    /// <param name="options">Settings (null: PyTorch's defaults).</param>
    /// <param name="enabled">False: scale 1, no unscaling, <see cref="Step{T}"/> is <see cref="Optimizer{T}.Step"/>.</param>
    public GradScaler(GradScalerOptions? options = null, bool enabled = true)
    {
        Options = options ?? new GradScalerOptions();
        Options.Validate();
        IsEnabled = enabled;
        _scale = Options.InitScale;
    }

    /// <summary>A scaler for a run in <paramref name="precision"/>: enabled for float16 only (bfloat16 and float32 need no loss scaling).</summary>
    public static GradScaler For(Precision precision, GradScalerOptions? options = null) => new(options, enabled: precision.NeedsLossScaling());

    /// <summary>The settings (the factors and interval may be replaced by <see cref="LoadState"/>).</summary>
    public GradScalerOptions Options { get; private set; }
    /// <summary>False for bfloat16 and float32 training.</summary>
    public bool IsEnabled { get; }
    /// <summary>The factor the loss is multiplied by (1 when disabled).</summary>
    public float Scale => IsEnabled ? _scale : 1f;
    /// <summary>Consecutive finite steps counted towards the next growth (PyTorch's <c>_growth_tracker</c>).</summary>
    public int GrowthTracker => IsEnabled ? _growthTracker : 0;
    /// <summary>Where the scaler is in the current iteration.</summary>
    public GradScalerStage Stage { get; private set; }
    /// <summary>Whether the current iteration's gradients (or loss) held an Inf or NaN (valid after <see cref="Unscale{T}"/>).</summary>
    public bool FoundInf => _foundInf;
    /// <summary>Optimizer steps skipped for a non-finite gradient or loss.</summary>
    public long SkippedSteps { get; private set; }
    /// <summary>Steps skipped since the last applied one.</summary>
    public int ConsecutiveSkippedSteps { get; private set; }

    /// <summary>
    /// Multiplies every trainable parameter's gradient by <c>(float)(1 / (double)Scale)</c> and records whether any
    /// gradient is NaN or infinite (returned, and in <see cref="FoundInf"/>). Call it once per iteration, before
    /// gradient clipping; <see cref="Step{T}"/> calls it when you have not.
    /// </summary>
    /// <exception cref="InvalidOperationException">Already unscaled or stepped since the last <see cref="Update()"/>.</exception>
    public bool Unscale<T>(IReadOnlyList<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (Stage == GradScalerStage.Unscaled) throw new InvalidOperationException("Unscale has already been called since the last Update.");
        if (Stage == GradScalerStage.Stepped) throw new InvalidOperationException("Unscale is being called after Step; call Update first.");
        bool found = false;
        // As PyTorch: the reciprocal in float64, rounded to float32 once (a float32 division may be inexact).
        T inv = IsEnabled ? T.CreateChecked((float)(1.0 / _scale)) : T.One;
        foreach (var p in parameters)
            if (p.Trainable) found |= UnscaleParameter(p, inv);
        _foundInf = found;
        Stage = GradScalerStage.Unscaled;
        return found;
    }

    /// <summary>Unscales a parameter's gradient in place (host memory) or through a host copy (engine memory without host access).</summary>
    private static bool UnscaleParameter<T>(Parameter<T> p, T inverseScale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p.Storage.TryGetHostSpans(out _, out var g)) return UnscaleAndCheck(g, inverseScale);
        var staged = new T[p.Count];
        p.CopyGradientTo(staged);
        bool found = UnscaleAndCheck<T>(staged, inverseScale);
        if (inverseScale != T.One) p.CopyGradientFrom(staged);
        return found;
    }

    /// <summary>
    /// Multiplies <paramref name="gradient"/> by <paramref name="inverseScale"/> in place (vectorised) and returns true
    /// when any result is NaN or infinite.
    /// </summary>
    public static bool UnscaleAndCheck<T>(Span<T> gradient, T inverseScale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (inverseScale != T.One) TensorPrimitives.Multiply(gradient, inverseScale, gradient);
        return SafeTensors.IndexOfNonFinite<T>(gradient) >= 0;
    }

    /// <summary>
    /// Unscales (unless <see cref="Unscale{T}"/> already ran this iteration), then applies
    /// <paramref name="optimizer"/>'s step unless a gradient or <paramref name="loss"/> is NaN or infinite: then the
    /// weights and the optimizer state stay as they are, the step counts in <see cref="SkippedSteps"/>, and false is
    /// returned. Call <see cref="Update()"/> afterwards.
    /// </summary>
    /// <exception cref="TrainingDivergedException">More than <see cref="GradScalerOptions.MaxConsecutiveSkippedSteps"/> steps in a row skipped.</exception>
    public bool Step<T>(Optimizer<T> optimizer, double loss = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!IsEnabled)
        {
            Stage = GradScalerStage.Stepped;
            return optimizer.Step(loss);
        }
        if (Stage == GradScalerStage.Stepped) throw new InvalidOperationException("Step has already been called since the last Update.");
        if (Stage == GradScalerStage.Ready) Unscale(optimizer.Parameters);
        if (!double.IsFinite(loss)) _foundInf = true;
        Stage = GradScalerStage.Stepped;
        if (_foundInf)
        {
            if (ConsecutiveSkippedSteps >= Options.MaxConsecutiveSkippedSteps)
                throw new TrainingDivergedException(
                    $"Training diverged: {ConsecutiveSkippedSteps + 1} consecutive float16 steps had an Inf or NaN gradient or loss " +
                    $"(loss scale now {Scale.ToString("R", CultureInfo.InvariantCulture)}). Lower the learning rate, or train in bf16 or fp32.");
            SkippedSteps++;
            ConsecutiveSkippedSteps++;
            return false;
        }
        ConsecutiveSkippedSteps = 0;
        bool applied = optimizer.Step(loss);
        return applied;
    }

    /// <summary>
    /// Updates the scale from this iteration's check (PyTorch's <c>update()</c>): after an Inf/NaN, scale × backoff and
    /// the growth tracker to 0; otherwise the tracker + 1, and when that reaches the growth interval, scale × growth
    /// (unless that overflows float32) and the tracker to 0. No-op when disabled.
    /// </summary>
    /// <exception cref="InvalidOperationException">Neither <see cref="Unscale{T}"/> nor <see cref="Step{T}"/> ran since the last update.</exception>
    public void Update()
    {
        if (!IsEnabled) { Stage = GradScalerStage.Ready; return; }
        if (Stage == GradScalerStage.Ready) throw new InvalidOperationException("No inf checks were recorded prior to Update: call Unscale or Step first.");
        if (_foundInf)
        {
            _scale = (float)(_scale * Options.BackoffFactor); // float × double in double, stored as float (as the kernel)
            _growthTracker = 0;
        }
        else
        {
            int successful = _growthTracker + 1;
            if (successful == Options.GrowthInterval)
            {
                float grown = (float)(_scale * Options.GrowthFactor);
                if (float.IsFinite(grown)) _scale = grown; // do not grow the scale past float32's range
                _growthTracker = 0;
            }
            else _growthTracker = successful;
        }
        _foundInf = false;
        Stage = GradScalerStage.Ready;
    }

    /// <summary>Sets the scale by hand (PyTorch's <c>update(new_scale)</c>); the growth tracker is left as it is.</summary>
    public void Update(float newScale)
    {
        if (!(float.IsFinite(newScale) && newScale > 0)) throw new ArgumentOutOfRangeException(nameof(newScale), newScale, "The scale must be positive and finite.");
        if (!IsEnabled) { Stage = GradScalerStage.Ready; return; }
        _scale = newScale;
        _foundInf = false;
        Stage = GradScalerStage.Ready;
    }

    /// <summary>The state to checkpoint (take it after <see cref="Update()"/>, as PyTorch advises).</summary>
    public GradScalerState GetState() => new(_scale, _growthTracker, Options.GrowthFactor, Options.BackoffFactor, Options.GrowthInterval,
        SkippedSteps, ConsecutiveSkippedSteps);

    /// <summary>Restores a state from <see cref="GetState"/> (scale, tracker, factors, interval, counters); the stage becomes <see cref="GradScalerStage.Ready"/>.</summary>
    public void LoadState(GradScalerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        state.Validate();
        Options = Options with { GrowthFactor = state.GrowthFactor, BackoffFactor = state.BackoffFactor, GrowthInterval = state.GrowthInterval };
        _scale = state.Scale;
        _growthTracker = state.GrowthTracker;
        SkippedSteps = state.SkippedSteps;
        ConsecutiveSkippedSteps = state.ConsecutiveSkippedSteps;
        _foundInf = false;
        Stage = GradScalerStage.Ready;
    }
}
