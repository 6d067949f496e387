using System.Numerics;

namespace CudnnRnn.OpenCL;

/// <summary>
/// A plan over 16-bit buffers (<see cref="Half"/>, <see cref="BFloat16"/>) with float arithmetic, cuDNN's math precision FLOAT and the
/// CPU engine's 16-bit contract: each call converts its 16-bit inputs and the weights to float once (exactly), runs the
/// float plan's kernels on float scratch buffers this plan keeps, and rounds each output to 16 bits once (round to
/// nearest even). Backward weights with <see cref="WeightGradMode.Add"/> converts dW to float, adds in float and rounds
/// once. The reserve space is float (<see cref="OpenClReserve16{T}"/>), so backward sees the forward's activations
/// unrounded.
/// </summary>
/// <remarks>
/// Every conversion is a kernel on the float plan's in-order queue, enqueued around the float plan's kernels: a call adds
/// no host synchronisation (like every OpenCL plan call, it returns once the work is enqueued). Scratch buffers are allocated on the
/// first call that needs them, sized for the worst case of the shape, and reused; no later call allocates.
/// </remarks>
internal sealed class OpenClPlan16<T> : RnnPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OpenClEngine _engine;
    private readonly OpenClPlan<float> _float;
    private readonly OpenClConversions _convert;
    private readonly long _xCap, _yCap;
    private OpenClBuffer<float>? _x, _y, _hx, _hy, _cx, _cy, _w, _dy, _dx, _dhy, _dhx, _dcy, _dcx, _dw;

    public OpenClPlan16(OpenClEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc, RnnWeightLayout layout)
        : base(engine, rnn, xDesc, layout)
    {
        _engine = engine;
        // Scratch holds the worst case of the shape (every length = maxSeqLength), as the float plan's workspace does.
        long vectors = (long)xDesc.MaxSeqLength * xDesc.Batch;
        _xCap = vectors * rnn.InputSize;
        _yCap = vectors * rnn.OutputSize;
        var rnn32 = rnn.WithDataType(RnnDataType.Float32);
        _float = new OpenClPlan<float>(engine, rnn32, xDesc, RnnWeightLayout.Canonical(rnn32));
        try { _convert = new OpenClConversions(engine, rnn.DataType); }
        catch
        {
            _float.Dispose();
            throw;
        }
    }

    public override long WorkspaceBytes => _float.WorkspaceBytes + sizeof(float) * (Len(_x) + Len(_y) + Len(_hx) + Len(_hy)
        + Len(_cx) + Len(_cy) + Len(_w) + Len(_dy) + Len(_dx) + Len(_dhy) + Len(_dhx) + Len(_dcy) + Len(_dcx) + Len(_dw));

    private static long Len(OpenClBuffer<float>? b) => b?.Length ?? 0;

    public override long ReserveBytes => _float.ReserveBytes;

    protected override RnnBuffer<T> AllocateReserveStorage()
    {
        var storage = _engine.AllocateBuffer<float>(_float.ReserveBytes / sizeof(float));
        return new OpenClReserve16<T>(_engine, storage);
    }

    private static OpenClBuffer<float> Storage(RnnReserve<T> reserve) => ((OpenClReserve16<T>)reserve.Storage).Float;

    /// <summary>The cl_mem of a 16-bit argument. A reserve's storage (float, see <see cref="OpenClReserve16{T}"/>) passed as
    /// data is refused (each call checks its buffers with <see cref="Check"/> before it enqueues anything).</summary>
    private static nint H(RnnBuffer<T> b) => b is OpenClBuffer<T> ob ? ob.Handle
        : throw new ArgumentException($"{b} is not a buffer of {typeof(T).Name} values (a reserve space's storage holds float32 " +
            "activations); pass buffers from engine.Allocate.", nameof(b));

    private static void Check(RnnBuffer<T>? a, RnnBuffer<T>? b, RnnBuffer<T>? c, RnnBuffer<T>? d, RnnBuffer<T>? e,
        RnnBuffer<T>? f = null, RnnBuffer<T>? g = null, RnnBuffer<T>? h = null, RnnBuffer<T>? i = null, RnnBuffer<T>? j = null)
    {
        foreach (var buffer in (ReadOnlySpan<RnnBuffer<T>?>)[a, b, c, d, e, f, g, h, i, j])
            if (buffer is not null) H(buffer);
    }

    /// <summary>The float scratch for a buffer, allocated on first use (null for an absent buffer).</summary>
    private OpenClBuffer<float>? Scratch(RnnBuffer<T>? b, ref OpenClBuffer<float>? scratch, long capacity)
    {
        if (b is null) return null;
        return scratch ??= _engine.AllocateBuffer<float>(capacity);
    }

    /// <summary>Enqueues the conversion of an input to its float scratch; null in, null out.</summary>
    private OpenClBuffer<float>? In(RnnBuffer<T>? b, ref OpenClBuffer<float>? scratch, long capacity)
    {
        var s = Scratch(b, ref scratch, capacity);
        if (s is not null) _convert.ToFloat(H(b!), s.Handle, b!.Length);
        return s;
    }

    /// <summary>Enqueues the rounding of a float result to its 16-bit output (nothing for an absent output).</summary>
    private void Out(OpenClBuffer<float>? scratch, RnnBuffer<T>? b)
    {
        if (b is not null) _convert.FromFloat(scratch!.Handle, H(b), b.Length);
    }

    protected override void ForwardCore(RnnForwardMode mode, RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T> y, RnnBuffer<T>? hx, RnnBuffer<T>? hy,
        RnnBuffer<T>? cx, RnnBuffer<T>? cy, RnnBuffer<T> weights, RnnReserve<T>? reserve)
    {
        Check(x, y, hx, hy, cx, cy, weights);
        var x32 = In(x, ref _x, _xCap)!;
        var hx32 = In(hx, ref _hx, HiddenStateElements);
        var cx32 = In(cx, ref _cx, CellStateElements);
        var w32 = In(weights, ref _w, WeightLayout.TotalElements)!;
        var y32 = Scratch(y, ref _y, _yCap)!;
        var hy32 = Scratch(hy, ref _hy, HiddenStateElements);
        var cy32 = Scratch(cy, ref _cy, CellStateElements);
        _float.EnqueueForward(mode, xDesc, x32, y32, hx32, hy32, cx32, cy32, w32,
            reserve is null ? null : Storage(reserve), reserve?.DropoutCounter ?? 0);
        Out(y32, y);
        Out(hy32, hy);
        Out(cy32, cy);
    }

    protected override void BackwardDataCore(RnnDataDescriptor xDesc, RnnBuffer<T> y, RnnBuffer<T> dy, RnnBuffer<T> dx, RnnBuffer<T>? hx, RnnBuffer<T>? dhy,
        RnnBuffer<T>? dhx, RnnBuffer<T>? cx, RnnBuffer<T>? dcy, RnnBuffer<T>? dcx, RnnBuffer<T> weights, RnnReserve<T> reserve)
    {
        // y is not read: the float kernels take the forward's outputs from the (float) reserve.
        Check(dy, dx, hx, dhy, dhx, cx, dcy, dcx, weights);
        var dy32 = In(dy, ref _dy, _yCap)!;
        var hx32 = In(hx, ref _hx, HiddenStateElements);
        var dhy32 = In(dhy, ref _dhy, HiddenStateElements);
        var cx32 = In(cx, ref _cx, CellStateElements);
        var dcy32 = In(dcy, ref _dcy, CellStateElements);
        var w32 = In(weights, ref _w, WeightLayout.TotalElements)!;
        var dx32 = Scratch(dx, ref _dx, _xCap)!;
        var dhx32 = Scratch(dhx, ref _dhx, HiddenStateElements);
        var dcx32 = Scratch(dcx, ref _dcx, CellStateElements);
        _float.EnqueueBackwardData(xDesc, dy32, dx32, hx32, dhy32, dhx32, cx32, dcy32, dcx32, w32, Storage(reserve), reserve.DropoutCounter);
        Out(dx32, dx);
        Out(dhx32, dhx);
        Out(dcx32, dcx);
    }

    protected override void BackwardWeightsCore(RnnDataDescriptor xDesc, RnnBuffer<T> x, RnnBuffer<T>? hx, RnnBuffer<T> y, RnnBuffer<T> dweights, RnnReserve<T> reserve)
    {
        // Add mode: dW goes to float, the gradients are added in float, and the sum is rounded once.
        Check(x, hx, dweights, null, null);
        var x32 = In(x, ref _x, _xCap)!;
        var hx32 = In(hx, ref _hx, HiddenStateElements);
        var dw32 = In(dweights, ref _dw, WeightLayout.TotalElements)!;
        _float.EnqueueBackwardWeights(xDesc, x32, hx32, dw32, Storage(reserve));
        Out(dw32, dweights);
    }

    protected override void DisposeCore()
    {
        foreach (var b in new[] { _x, _y, _hx, _hy, _cx, _cy, _w, _dy, _dx, _dhy, _dhx, _dcy, _dcx, _dw }) b?.Dispose();
        _convert.Dispose();
        _float.Dispose();
    }
}
