using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

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
    protected override IReadOnlyList<KeyValuePair<string, T[][]>> HostState => Momentum > 0 ? [new("sgd.velocity", _velocity)] : [];
    /// <summary>L2 weight decay added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc/>
    protected override void Update(int index, Span<T> w, Span<T> g)
    {
        T lr = T.CreateChecked(LearningRate), wd = T.CreateChecked(WeightDecay), mu = T.CreateChecked(Momentum);
        if (WeightDecay != 0) TensorPrimitives.MultiplyAdd(w, wd, g, g);
        if (Momentum > 0)
        {
            var v = _velocity[index].AsSpan();
            TensorPrimitives.MultiplyAdd(v, mu, g, v);
            g = v;
        }
        TensorPrimitives.MultiplyAdd(g, -lr, w, w);
    }

    /// <inheritdoc/>
    protected override bool SupportsEngineUpdate => true;

    /// <inheritdoc/>
    protected override bool TryUpdateOnEngine(int index, IParameterUpdateKernels kernels, RnnBuffer<T> w, RnnBuffer<T> g, out ParameterUpdateCheck check)
    {
        T lr = T.CreateChecked(LearningRate), wd = T.CreateChecked(WeightDecay), mu = T.CreateChecked(Momentum);
        check = kernels.SgdStep(w, g, Momentum > 0 ? EngineState(0, index, w) : null, lr, mu, wd);
        return true;
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
    protected override IReadOnlyList<KeyValuePair<string, T[][]>> HostState => [new("adam.m", _m), new("adam.v", _v)];
    /// <summary>β2.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Epsilon { get; }
    /// <summary>L2 weight decay added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc/>
    protected override void Update(int index, Span<T> w, Span<T> g)
    {
        var m = _m[index].AsSpan();
        var v = _v[index].AsSpan();
        var (b1, b2, ob1, ob2, stepSize, invSqrtC2, eps, wd) = Coefficients();
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

    // The step's scalars, rounded to T once (host and engine updates use the same values).
    private AdamCoefficients<T> Coefficients()
    {
        double c1 = 1 - Math.Pow(Beta1, StepCount), c2 = 1 - Math.Pow(Beta2, StepCount);
        T b1 = T.CreateChecked(Beta1), b2 = T.CreateChecked(Beta2);
        return new(b1, b2, T.One - b1, T.One - b2, T.CreateChecked(LearningRate / c1), T.CreateChecked(1 / Math.Sqrt(c2)),
            T.CreateChecked(Epsilon), T.CreateChecked(WeightDecay));
    }

    /// <inheritdoc/>
    protected override bool SupportsEngineUpdate => true;

    /// <inheritdoc/>
    protected override bool TryUpdateOnEngine(int index, IParameterUpdateKernels kernels, RnnBuffer<T> w, RnnBuffer<T> g, out ParameterUpdateCheck check)
    {
        check = kernels.AdamStep(w, g, EngineState(0, index, w), EngineState(1, index, w), Coefficients());
        return true;
    }
}

/// <summary>Training went non-finite and cannot continue (see <see cref="Optimizer{T}.Step"/>).</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message) : base(message) { }

    /// <summary>Creates the exception with the error that revealed the divergence.</summary>
    public TrainingDivergedException(string message, Exception inner) : base(message, inner) { }
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
