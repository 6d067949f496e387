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
    /// <param name="engine">The engine.</param>
    /// <param name="rnn">The network.</param>
    /// <param name="master">The master weights.</param>
    /// <param name="gradients">The worker's gradient array for them (empty when the master lives in engine memory).</param>
    /// <param name="precision">The precision.</param>
    /// <param name="ownGradients">True for workers after the first (they never write the master gradient).</param>
    public static WorkerRnn<T> Create(IRnnEngine engine, RnnDescriptor rnn, Parameter<T> master, T[] gradients, Precision precision, bool ownGradients)
    {
        if (precision == Precision.Fp32) return new DirectWorkerRnn<T>(engine, rnn, master, gradients, ownGradients);
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
    /// <summary>Clears gradients the layer accumulates in place (the master gradient in engine memory), if any.</summary>
    public virtual void ZeroGrad() { }
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

/// <summary>
/// The RNN in the tagger's own element type, reading the master weights in place (<see cref="Parameter{T}.ValueBuffer"/>).
/// On a device engine (one worker) it also accumulates straight into the master gradient in engine memory; on the CPU
/// engine each worker's layer has its own gradient, added into the worker's arrays after each backward.
/// </summary>
internal sealed class DirectWorkerRnn<T> : WorkerRnn<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnLayer<T> _layer;
    private readonly T[] _gradients;
    private readonly bool _writesMaster;
    private T[] _tmp = [];
    private RnnForwardContext<T>? _ctx;

    public DirectWorkerRnn(IRnnEngine engine, RnnDescriptor rnn, Parameter<T> master, T[] gradients, bool ownGradients)
    {
        _gradients = gradients;
        _writesMaster = !master.HasHostArrays;
        if (_writesMaster && ownGradients)
            throw new InvalidOperationException($"'{master.Name}' lives in {master.ValueBuffer!.Engine.Name} engine memory, where the tagger runs one worker (see WorkerCount.For).");
        _layer = new RnnLayer<T>(engine, rnn, master.ValueBuffer ?? throw new InvalidOperationException($"'{master.Name}' has no engine buffer for the layer to read."),
            _writesMaster ? master.GradientBuffer : null);
    }

    public override long PlansCreated => _layer.PlansCreated;

    public override void ZeroGrad()
    {
        if (_writesMaster) _layer.ZeroGrad();
    }

    public override void Forward(RnnDataDescriptor xDesc, ReadOnlySpan<T> x, bool training)
    {
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
        if (_writesMaster) return dx; // the backward already accumulated into the master gradient
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
        try
        {
            _ctx = _layer.Forward(xDesc, x);
        }
        catch (OverflowException e) when (training)
        {
            throw MasterOverflow(e);
        }
    }

    /// <summary>A master weight beyond the 16-bit range during training: the run has diverged for this precision.</summary>
    internal static TrainingDivergedException MasterOverflow(OverflowException e) =>
        new($"Training diverged for {typeof(TLow).Name}: {e.Message}", e);

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
