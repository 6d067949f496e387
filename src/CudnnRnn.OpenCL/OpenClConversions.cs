using System.Numerics;

namespace CudnnRnn.OpenCL;

/// <summary>
/// The 16-bit storage types of the OpenCL engine and the device kernels that convert them to and from float
/// (native/opencl/rnn.cl: <c>half_to_float</c> / <c>float_to_half</c> with <c>vload_half</c> / <c>vstore_half_rte</c>,
/// core OpenCL C 1.2; <c>bf16_to_float</c> / <c>float_to_bf16</c> by bit arithmetic). Both directions round to nearest
/// even and keep NaN a NaN. One instance per plan: kernel arguments are per-object state.
/// </summary>
internal sealed class OpenClConversions : IDisposable
{
    private readonly ClKernel _toFloat, _fromFloat;

    /// <summary>Whether <typeparamref name="T"/> is stored in 16 bits and computed in float on this engine.</summary>
    public static bool Is16Bit<T>() => typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16);

    public OpenClConversions(OpenClEngine engine, RnnDataType type)
    {
        var (to, from) = type switch
        {
            RnnDataType.Float16 => ("half_to_float", "float_to_half"),
            RnnDataType.BFloat16 => ("bf16_to_float", "float_to_bf16"),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Expected Float16 or BFloat16."),
        };
        // The conversion kernels live in the float program, which the 16-bit plan's float plan builds anyway.
        var program = engine.GetProgram<float>();
        _toFloat = new ClKernel(engine, program, to);
        try { _fromFloat = new ClKernel(engine, program, from); }
        catch
        {
            _toFloat.Dispose();
            throw;
        }
    }

    /// <summary>Enqueues dst[0..count) = float(src[0..count)) (exact).</summary>
    public void ToFloat(nint src, nint dst, long count)
    {
        if (count == 0) return;
        _toFloat.Args().Int(checked((int)count)).Mem(src).Mem(dst).Run(count);
    }

    /// <summary>Enqueues dst[0..count) = round-to-nearest-even 16-bit(src[0..count)).</summary>
    public void FromFloat(nint src, nint dst, long count)
    {
        if (count == 0) return;
        _fromFloat.Args().Int(checked((int)count)).Mem(src).Mem(dst).Run(count);
    }

    public void Dispose()
    {
        _toFloat.Dispose();
        _fromFloat.Dispose();
    }
}

/// <summary>
/// The reserve space of a 16-bit plan: a float buffer (the float plan's reserve, so backward reads the forward's
/// activations and gate gradients unrounded, as cuDNN's FLOAT math precision keeps them), seen as a buffer of
/// <typeparamref name="T"/> with the same byte size. Its contents are the engine's, not 16-bit values: reading or writing
/// them element-wise is refused.
/// </summary>
internal sealed class OpenClReserve16<T> : RnnBuffer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public OpenClReserve16(OpenClEngine engine, OpenClBuffer<float> storage)
        : base(engine, storage.Length * sizeof(float) / System.Runtime.CompilerServices.Unsafe.SizeOf<T>())
    {
        Float = storage;
    }

    /// <summary>The float storage the float plan reads and writes.</summary>
    public OpenClBuffer<float> Float { get; }

    protected override void WriteCore(long offset, ReadOnlySpan<T> source) => throw Opaque();

    protected override void ReadCore(long offset, Span<T> destination) => throw Opaque();

    protected override void FillCore(T value) => Float.Fill(float.CreateChecked(value));

    private static NotSupportedException Opaque() => new(
        $"The reserve space of an OpenCL {typeof(T).Name} plan holds float32 activations (16-bit storage, float arithmetic); " +
        "it is engine memory, not readable or writable as " + typeof(T).Name + " values.");

    protected override void AcquireForCall() => Float.Retain();

    protected override void ReleaseAfterCall() => Float.ReleaseRetained();

    protected override void DisposeCore() => Float.Dispose();
}
