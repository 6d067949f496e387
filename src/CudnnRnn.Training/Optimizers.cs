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
    /// <summary>Steps taken (a checkpoint restores it).</summary>
    public long StepCount { get; internal set; }

    /// <summary>
    /// The optimizer's per-parameter state buffers by name (Adam: "adam.m", "adam.v"; SGD with momentum:
    /// "sgd.velocity"), each aligned with <see cref="Parameters"/>; checkpoints save and restore them in place.
    /// </summary>
    public virtual IReadOnlyList<KeyValuePair<string, T[][]>> StateBuffers => [];

    /// <summary>Applies one update from the current gradients.</summary>
    public void Step()
    {
        StepCount++;
        for (int i = 0; i < Parameters.Count; i++)
            if (Parameters[i].Trainable) Update(i, Parameters[i]);
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
    /// <summary>The L2 norm of all gradients together.</summary>
    public static double GlobalNorm<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (var p in parameters)
        {
            T n = TensorPrimitives.Norm<T>(p.Grad);
            double d = double.CreateChecked(n);
            sum += d * d;
        }
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// Scales every gradient by <c>maxNorm / norm</c> when the global norm exceeds <paramref name="maxNorm"/>
    /// (as <c>torch.nn.utils.clip_grad_norm_</c>). Returns the norm before clipping.
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
