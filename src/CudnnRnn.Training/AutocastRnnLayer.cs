using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// An RNN that computes in 16 bits on the engine behind a float32 interface — what <c>torch.autocast</c> does for one
/// <c>nn.LSTM</c>: each <see cref="Forward"/> casts the float32 master weights (<see cref="Master"/>) to the 16-bit
/// weight space (<see cref="MasterWeights{TLow}"/>) and the float32 input to 16 bits, and runs an
/// <see cref="RnnLayer{T}"/> of <typeparamref name="TLow"/>; <see cref="Backward"/> casts the output gradients (which a
/// <see cref="GradScaler"/> has scaled) to 16 bits, so that one that overflows becomes ±Infinity for the scaler to
/// see, and adds the weight gradients, widened exactly, to the master's float32 gradient. Outputs and input gradients
/// come back widened to float32. Scratch grows to the largest call and is reused. Not thread-safe.
/// </summary>
/// <typeparam name="TLow"><see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
public sealed class AutocastRnnLayer<TLow> : IDisposable where TLow : unmanaged, IFloatingPointIeee754<TLow>
{
    private readonly MasterWeights<TLow> _weights;
    private TLow[] _x = [], _hx = [], _cx = [], _dy = [], _dhy = [], _dcy = [], _read = [];
    private bool _disposed;

    /// <summary>Creates the 16-bit layer for <paramref name="rnn"/> (any data type; it runs in <typeparamref name="TLow"/>'s).</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="rnn">The network.</param>
    /// <param name="master">The float32 master weights, in the engine's layout of <paramref name="rnn"/> (same element count).</param>
    public AutocastRnnLayer(IRnnEngine engine, RnnDescriptor rnn, Parameter<float> master)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(rnn);
        ArgumentNullException.ThrowIfNull(master);
        if (typeof(TLow) != typeof(Half) && typeof(TLow) != typeof(BFloat16))
            throw new NotSupportedException($"AutocastRnnLayer runs in Half or BFloat16, not {typeof(TLow).Name}.");
        Layer = new RnnLayer<TLow>(engine, rnn.WithDataType(RnnDescriptor.DataTypeOf<TLow>()));
        try
        {
            _weights = new MasterWeights<TLow>(master, Layer.Weights);
        }
        catch
        {
            Layer.Dispose();
            throw;
        }
    }

    /// <summary>The 16-bit layer on the engine.</summary>
    public RnnLayer<TLow> Layer { get; }
    /// <summary>The float32 master weights (the optimizer's parameter).</summary>
    public Parameter<float> Master => _weights.Master;
    /// <summary>Training mode (see <see cref="RnnLayer{T}.Training"/>).</summary>
    public bool Training { get => Layer.Training; set => Layer.Training = value; }
    /// <summary>
    /// Where <see cref="Backward"/> adds the widened weight gradients: null (the default) for <see cref="Master"/>'s own
    /// gradient, or an array of the same length (a data-parallel worker's copy of it).
    /// </summary>
    public float[]? GradientTarget
    {
        get => _target;
        set => _target = value is null || value.Length == Master.Count ? value
            : throw new ArgumentException($"GradientTarget has {value.Length} elements; the master has {Master.Count}.", nameof(value));
    }
    private float[]? _target;
    /// <summary>Plans the layer has created.</summary>
    public long PlansCreated => Layer.PlansCreated;

    /// <summary>
    /// Casts the master weights and <paramref name="x"/> (and <paramref name="hx"/>, <paramref name="cx"/>) to 16 bits and
    /// runs the forward pass. Read the outputs widened with <see cref="ReadWidened(RnnBuffer{TLow})"/>.
    /// </summary>
    /// <exception cref="OverflowException">A master weight is beyond the 16-bit range (named in the message).</exception>
    public RnnForwardContext<TLow> Forward(RnnDataDescriptor xDesc, ReadOnlySpan<float> x, ReadOnlySpan<float> hx = default, ReadOnlySpan<float> cx = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(xDesc);
        _weights.CastToEngine();
        return Layer.Forward(xDesc, Narrow(x, ref _x), Narrow(hx, ref _hx), Narrow(cx, ref _cx));
    }

    /// <summary>
    /// Backward of <paramref name="context"/>: the output gradients are rounded to 16 bits (overflow → ±Infinity), the
    /// 16-bit weight gradients are widened and added to <see cref="Master"/>'s gradient (or <see cref="GradientTarget"/>), and the input gradients come
    /// back in float32. Returns the index of the first non-finite weight gradient, or −1, with the input gradients.
    /// </summary>
    public (RnnInputGradients<float> Inputs, int FirstNonFiniteWeightGradient) Backward(RnnForwardContext<TLow> context,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> dhy = default, ReadOnlySpan<float> dcy = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(context);
        Layer.ZeroGrad();
        var g = Layer.Backward(context, Narrow(dy, ref _dy), Narrow(dhy, ref _dhy), Narrow(dcy, ref _dcy));
        int bad = _target is not null ? _weights.AddGradients(Layer.WeightGradients, _target) : _weights.AddGradientsToMaster(Layer.WeightGradients);
        return (new RnnInputGradients<float>(Widen(g.Dx), Widen(g.Dhx), Widen(g.Dcx)), bad);
    }

    /// <summary>Widens a 16-bit engine buffer (an output of <see cref="Forward"/>) into <paramref name="destination"/> (exactly its length).</summary>
    public void ReadWidened(RnnBuffer<TLow> source, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination has {destination.Length} elements; the buffer has {source.Length}.", nameof(destination));
        Grow(ref _read, source.Length);
        var tmp = _read.AsSpan(0, (int)source.Length);
        source.Read(0, tmp);
        PrecisionCast.Widen<TLow>(tmp, destination);
    }

    /// <summary>Widens a 16-bit engine buffer to a new float32 array.</summary>
    public float[] ReadWidened(RnnBuffer<TLow> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var a = new float[source.Length];
        ReadWidened(source, a);
        return a;
    }

    private static ReadOnlySpan<TLow> Narrow(ReadOnlySpan<float> source, ref TLow[] scratch)
    {
        if (source.IsEmpty) return default;
        Grow(ref scratch, source.Length);
        var s = scratch.AsSpan(0, source.Length);
        PrecisionCast.Narrow(source, s);
        return s;
    }

    private static float[] Widen(TLow[] source)
    {
        var a = new float[source.Length];
        PrecisionCast.Widen<TLow>(source, a);
        return a;
    }

    private static void Grow(ref TLow[] a, long n)
    {
        if (a.Length < n) a = new TLow[Math.Max(n, a.Length * 3L / 2)];
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Layer.Dispose();
    }
}
