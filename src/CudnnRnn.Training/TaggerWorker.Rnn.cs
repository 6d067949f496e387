using System.Numerics;
using System.Numerics.Tensors;

namespace CudnnRnn.Training;

/// <summary>
/// A worker's view of one of the tagger's RNNs (the sentence RNN or the character BiLSTM): forward on host rows of
/// <typeparamref name="T"/>, backward of that forward, and the weight gradients added into the worker's array. Two
/// kinds: the RNN in <typeparamref name="T"/> itself (<see cref="DirectWorkerRnn{T}"/>), and, for mixed precision, a
/// 16-bit RNN cast from the float32 master weights (<see cref="AutocastWorkerRnn{TLow}"/>). One forward in flight.
/// </summary>
internal abstract class WorkerRnn<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the RNN for <paramref name="precision"/> (16-bit ones need T = float).</summary>
    public static WorkerRnn<T> Create(IRnnEngine engine, RnnDescriptor rnn, Parameter<T> master, T[] gradients, Precision precision, Func<long> weightsVersion)
    {
        if (precision == Precision.Fp32) return new DirectWorkerRnn<T>(engine, rnn, master, gradients, weightsVersion);
        if (typeof(T) != typeof(float))
            throw new NotSupportedException($"Mixed precision ({precision.Word()}) keeps float32 master weights; this tagger's element type is {typeof(T).Name}.");
        var m = (Parameter<float>)(object)master;
        var g = (float[])(object)gradients;
        WorkerRnn<float> r = precision == Precision.Fp16
            ? new AutocastWorkerRnn<Half>(engine, rnn, m, g)
            : new AutocastWorkerRnn<BFloat16>(engine, rnn, m, g);
        return (WorkerRnn<T>)(object)r;
    }

    /// <summary>RNN plans created so far.</summary>
    public abstract long PlansCreated { get; }
    /// <summary>Runs forward (training: keeps what backward needs).</summary>
    public abstract void Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, bool training);
    /// <summary>The last forward's y as a new array.</summary>
    public abstract T[] ReadY();
    /// <summary>The last forward's h_n as a new array.</summary>
    public abstract T[] ReadHy();
    /// <summary>Backward of the last training forward; adds the weight gradients into the worker's array and returns dx.</summary>
    public abstract T[] Backward(ReadOnlySpan<T> dy, ReadOnlySpan<T> dhy);
    /// <summary>Frees the last forward's context (its memory goes back to the layer's pool).</summary>
    public abstract void DisposeContext();
    /// <inheritdoc/>
    public abstract void Dispose();
}

/// <summary>The RNN in the tagger's own element type; copies the master weights to the engine when they change.</summary>
internal sealed class DirectWorkerRnn<T> : WorkerRnn<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnLayer<T> _layer;
    private readonly Parameter<T> _master;
    private readonly T[] _gradients;
    private readonly Func<long> _version;
    private long _synced = long.MinValue;
    private T[] _tmp = [];
    private RnnForwardContext<T>? _ctx;

    public DirectWorkerRnn(IRnnEngine engine, RnnDescriptor rnn, Parameter<T> master, T[] gradients, Func<long> weightsVersion)
    {
        _layer = new RnnLayer<T>(engine, rnn);
        _master = master;
        _gradients = gradients;
        _version = weightsVersion;
    }

    public override long PlansCreated => _layer.PlansCreated;

    public override void Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, bool training)
    {
        long v = _version();
        if (v != _synced)
        {
            _layer.Weights.CopyFrom(_master.Value);
            _synced = v;
        }
        _layer.Training = training;
        DisposeContext();
        _ctx = _layer.Forward(xDesc, x);
    }

    public override T[] ReadY() => _ctx!.Y.ToArray();
    public override T[] ReadHy() => _ctx!.Hy.ToArray();

    public override T[] Backward(ReadOnlySpan<T> dy, ReadOnlySpan<T> dhy)
    {
        var dx = _layer.Backward(_ctx ?? throw new InvalidOperationException("Backward needs a training forward first."), dy, dhy).Dx;
        DisposeContext();
        if (_tmp.Length < _gradients.Length) _tmp = new T[_gradients.Length];
        var tmp = _tmp.AsSpan(0, _gradients.Length);
        _layer.WeightGradients.Read(0, tmp);
        TensorPrimitives.Add(_gradients, tmp, _gradients);
        _layer.ZeroGrad();
        return dx;
    }

    public override void DisposeContext()
    {
        _ctx?.Dispose();
        _ctx = null;
    }

    public override void Dispose()
    {
        DisposeContext();
        _layer.Dispose();
    }
}

/// <summary>The RNN in 16 bits, cast from the float32 master weights each forward (<see cref="AutocastRnnLayer{TLow}"/>).</summary>
internal sealed class AutocastWorkerRnn<TLow> : WorkerRnn<float> where TLow : unmanaged, IFloatingPointIeee754<TLow>
{
    private readonly AutocastRnnLayer<TLow> _layer;
    private RnnForwardContext<TLow>? _ctx;

    public AutocastWorkerRnn(IRnnEngine engine, RnnDescriptor rnn, Parameter<float> master, float[] gradients)
    {
        _layer = new AutocastRnnLayer<TLow>(engine, rnn, master);
        _layer.GradientTarget = gradients;
    }

    public override long PlansCreated => _layer.PlansCreated;

    public override void Forward(RnnDataDescriptor xDesc, ReadOnlySpan<float> x, bool training)
    {
        _layer.Training = training;
        DisposeContext();
        _ctx = _layer.Forward(xDesc, x);
    }

    public override float[] ReadY() => _layer.ReadWidened(_ctx!.Y);
    public override float[] ReadHy() => _layer.ReadWidened(_ctx!.Hy);

    public override float[] Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> dhy)
    {
        var (inputs, _) = _layer.Backward(_ctx ?? throw new InvalidOperationException("Backward needs a training forward first."), dy, dhy);
        DisposeContext();
        return inputs.Dx;
    }

    public override void DisposeContext()
    {
        _ctx?.Dispose();
        _ctx = null;
    }

    public override void Dispose()
    {
        DisposeContext();
        _layer.Dispose();
    }
}
