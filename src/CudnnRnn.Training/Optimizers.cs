using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>Updates parameters from their gradients.</summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the optimizer over <paramref name="parameters"/>.</summary>
    protected Optimizer(IReadOnlyList<Parameter<T>> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must be positive.");
        Parameters = parameters;
        LearningRate = learningRate;
    }

    /// <summary>The parameters it updates.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }
    /// <summary>Current learning rate (a schedule sets it before each step).</summary>
    public double LearningRate { get; set; }
    /// <summary>Steps applied (skipped steps are not counted: Adam's bias correction follows the applied ones).</summary>
    public long StepCount { get; internal set; }
    /// <summary>
    /// The optimizer's per-parameter state buffers by name (Adam: "adam.m", "adam.v"; SGD with momentum:
    /// "sgd.velocity"), each aligned with <see cref="Parameters"/>; checkpoints save and restore them in place.
    /// </summary>
    public virtual IReadOnlyList<KeyValuePair<string, T[][]>> StateBuffers => [];

    /// <summary>Steps skipped because the loss or a gradient was NaN or infinite.</summary>
    public long SkippedSteps { get; private set; }
    /// <summary>Steps skipped since the last applied one.</summary>
    public int ConsecutiveSkippedSteps { get; private set; }
    /// <summary>
    /// After this many skipped steps in a row, <see cref="Step"/> throws <see cref="TrainingDivergedException"/>
    /// instead of skipping again: the model is not going to recover by itself.
    /// </summary>
    public int MaxConsecutiveSkippedSteps
    {
        get => _maxConsecutiveSkipped;
        set => _maxConsecutiveSkipped = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Expected a count ≥ 0.");
    }
    private int _maxConsecutiveSkipped = 10;

    /// <summary>
    /// Applies one update from the current gradients, unless <paramref name="loss"/> or any trainable gradient is NaN
    /// or infinite: then the weights and the optimizer state are left as they are, the step is counted in
    /// <see cref="SkippedSteps"/> and false is returned. Throws <see cref="TrainingDivergedException"/> when more than
    /// <see cref="MaxConsecutiveSkippedSteps"/> steps in a row are skipped, or when an update with finite inputs makes a
    /// finite weight overflow to infinity (the learning rate is far too large).
    /// </summary>
    /// <param name="loss">The batch's loss, when the caller has one; only its finiteness is used.</param>
    public bool Step(double loss = 0)
    {
        string? why = !double.IsFinite(loss) ? $"the loss is {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : null;
        for (int i = 0; why is null && i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            int bad = p.Trainable ? SafeTensors.IndexOfNonFinite<T>(p.Grad) : -1;
            if (bad >= 0) why = $"the gradient of '{p.Name}' holds {p.Grad[bad]} at element {bad}";
        }
        if (why is not null)
        {
            if (ConsecutiveSkippedSteps >= MaxConsecutiveSkippedSteps)
                throw new TrainingDivergedException(
                    $"Training diverged: {ConsecutiveSkippedSteps + 1} consecutive steps had a non-finite loss or gradient (last: {why}). " +
                    "Lower the learning rate, use gradient clipping, or check the data.");
            SkippedSteps++;
            ConsecutiveSkippedSteps++;
            return false;
        }
        ConsecutiveSkippedSteps = 0;
        StepCount++;
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (!p.Trainable) continue;
            bool wasFinite = SafeTensors.IndexOfNonFinite<T>(p.Value) < 0; // a weight already non-finite is the caller's doing
            Update(i, p);
            int bad = wasFinite ? SafeTensors.IndexOfNonFinite<T>(p.Value) : -1;
            if (bad >= 0)
                throw new TrainingDivergedException(
                    $"Training diverged: the update made '{p.Name}' element {bad} {p.Value[bad]} from finite gradients " +
                    $"(learning rate {LearningRate.ToString(System.Globalization.CultureInfo.InvariantCulture)} is too large for them).");
        }
        return true;
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>Updates parameter number <paramref name="index"/>.</summary>
    protected abstract void Update(int index, Parameter<T> p);
}

/// <summary>Stochastic gradient descent with optional momentum and weight decay: v = μv + g; w −= lr·v.</summary>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] _velocity;

    /// <summary>Creates the optimizer.</summary>
    public Sgd(IReadOnlyList<Parameter<T>> parameters, double learningRate, double momentum = 0, double weightDecay = 0)
        : base(parameters, learningRate)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Expected 0 ≤ momentum < 1.");
        Momentum = momentum;
        WeightDecay = weightDecay;
        _velocity = parameters.Select(p => momentum > 0 ? new T[p.Count] : []).ToArray();
    }

    /// <summary>Momentum μ.</summary>
    public double Momentum { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<KeyValuePair<string, T[][]>> StateBuffers => Momentum > 0 ? [new("sgd.velocity", _velocity)] : [];
    /// <summary>L2 weight decay added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc/>
    protected override void Update(int index, Parameter<T> p)
    {
        T lr = T.CreateChecked(LearningRate), wd = T.CreateChecked(WeightDecay), mu = T.CreateChecked(Momentum);
        var w = p.Value.AsSpan();
        var g = p.Grad.AsSpan();
        if (WeightDecay != 0) TensorPrimitives.MultiplyAdd(w, wd, g, g);
        if (Momentum > 0)
        {
            var v = _velocity[index].AsSpan();
            TensorPrimitives.MultiplyAdd(v, mu, g, v);
            g = v;
        }
        TensorPrimitives.MultiplyAdd(g, -lr, w, w);
    }
}

/// <summary>Adam (Kingma &amp; Ba) with bias correction, as PyTorch's <c>torch.optim.Adam</c> (L2 decay added to the gradient).</summary>
public sealed class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] _m, _v;

    /// <summary>Creates the optimizer.</summary>
    public Adam(IReadOnlyList<Parameter<T>> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-8, double weightDecay = 0)
        : base(parameters, learningRate)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "Expected 0 ≤ β1 < 1.");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "Expected 0 ≤ β2 < 1.");
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
        _m = parameters.Select(p => new T[p.Count]).ToArray();
        _v = parameters.Select(p => new T[p.Count]).ToArray();
    }

    /// <summary>β1.</summary>
    public double Beta1 { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<KeyValuePair<string, T[][]>> StateBuffers => [new("adam.m", _m), new("adam.v", _v)];
    /// <summary>β2.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Epsilon { get; }
    /// <summary>L2 weight decay added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc/>
    protected override void Update(int index, Parameter<T> p)
    {
        var w = p.Value.AsSpan();
        var g = p.Grad.AsSpan();
        var m = _m[index].AsSpan();
        var v = _v[index].AsSpan();
        double c1 = 1 - Math.Pow(Beta1, StepCount), c2 = 1 - Math.Pow(Beta2, StepCount);
        T b1 = T.CreateChecked(Beta1), b2 = T.CreateChecked(Beta2), ob1 = T.One - b1, ob2 = T.One - b2;
        T stepSize = T.CreateChecked(LearningRate / c1), invSqrtC2 = T.CreateChecked(1 / Math.Sqrt(c2)), eps = T.CreateChecked(Epsilon);
        T wd = T.CreateChecked(WeightDecay);
        bool decay = WeightDecay != 0;
        for (int i = 0; i < w.Length; i++)
        {
            T gi = g[i];
            if (decay) gi += wd * w[i];
            T mi = b1 * m[i] + ob1 * gi;
            T vi = b2 * v[i] + ob2 * gi * gi;
            m[i] = mi; v[i] = vi;
            w[i] -= stepSize * mi / (T.Sqrt(vi) * invSqrtC2 + eps);
        }
    }
}

/// <summary>Gradient clipping.</summary>
public static class GradientClipping
{
    /// <summary>
    /// The L2 norm of all gradients together, accumulated in double and rescaled where a parameter's sum of squares
    /// would overflow, so finite gradients always give a finite norm; NaN or ∞ when some gradient is NaN or infinite.
    /// </summary>
    public static double GlobalNorm<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double scale = 0, sumSq = 1; // norm = scale · √sumSq, as LAPACK's dnrm2: no overflow for any finite input
        foreach (var p in parameters)
        {
            double n = double.CreateChecked(TensorPrimitives.Norm<T>(p.Grad));
            if (double.IsInfinity(n) && SafeTensors.IndexOfNonFinite<T>(p.Grad) < 0)
            {
                // Σ g² overflowed T though every g is finite: rescale by the largest magnitude first.
                double m = double.CreateChecked(TensorPrimitives.MaxMagnitude<T>(p.Grad));
                double s = 0;
                foreach (T g in p.Grad) { double r = double.CreateChecked(g) / m; s += r * r; }
                n = m * Math.Sqrt(s);
            }
            if (!double.IsFinite(n)) return n;
            if (n == 0) continue;
            if (n > scale) { sumSq = 1 + sumSq * (scale / n) * (scale / n); scale = n; }
            else sumSq += (n / scale) * (n / scale);
        }
        return scale * Math.Sqrt(sumSq);
    }

    /// <summary>
    /// Scales every gradient by <c>maxNorm / norm</c> when the global norm exceeds <paramref name="maxNorm"/>
    /// (as <c>torch.nn.utils.clip_grad_norm_</c>). Returns the norm before clipping. When a gradient is NaN or infinite
    /// the norm is too: the gradients are then left as they are and <see cref="Optimizer{T}.Step"/> skips the step.
    /// </summary>
    public static double ClipByGlobalNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "maxNorm must be positive.");
        double norm = GlobalNorm(parameters);
        if (norm > maxNorm && double.IsFinite(norm))
        {
            T scale = T.CreateChecked(maxNorm / (norm + 1e-6));
            foreach (var p in parameters) TensorPrimitives.Multiply(p.Grad, scale, p.Grad);
        }
        return norm;
    }
}

/// <summary>Training went non-finite and cannot continue (see <see cref="Optimizer{T}.Step"/>).</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message) : base(message) { }
}

/// <summary>Learning rate as a function of training progress.</summary>
public abstract record LearningRateSchedule
{
    /// <summary>The rate at <paramref name="progress"/> ∈ [0, 1] (fraction of the training budget used) in epoch <paramref name="epoch"/> (0-based).</summary>
    public abstract double RateAt(double baseRate, double progress, int epoch);

    /// <summary>A constant rate.</summary>
    public sealed record Constant : LearningRateSchedule
    {
        /// <inheritdoc/>
        public override double RateAt(double baseRate, double progress, int epoch) => baseRate;
    }

    /// <summary><c>base · gamma^epoch</c>.</summary>
    public sealed record Exponential(double Gamma) : LearningRateSchedule
    {
        /// <inheritdoc/>
        public override double RateAt(double baseRate, double progress, int epoch) => baseRate * Math.Pow(Gamma, epoch);
    }

    /// <summary>Cosine decay from base to <c>base·MinFactor</c> over the budget, after a linear warm-up over the first <c>Warmup</c> of it.</summary>
    public sealed record Cosine(double MinFactor = 0.05, double Warmup = 0.0) : LearningRateSchedule
    {
        /// <inheritdoc/>
        public override double RateAt(double baseRate, double progress, int epoch)
        {
            progress = Math.Clamp(progress, 0, 1);
            if (Warmup > 0 && progress < Warmup) return baseRate * Math.Max(progress / Warmup, 0.01);
            double p = Warmup > 0 ? (progress - Warmup) / (1 - Warmup) : progress;
            return baseRate * (MinFactor + (1 - MinFactor) * 0.5 * (1 + Math.Cos(Math.PI * p)));
        }
    }
}
