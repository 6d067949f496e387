using System.Numerics;
using CudnnRnn.Cpu;

namespace CudnnRnn.Training;

/// <summary>
/// Where a <see cref="Parameter{T}"/>'s values and gradient live. The optimizers dispatch on it: memory the process can
/// address (<see cref="TryGetHostSpans"/>: host arrays, CPU-engine buffers) is updated in place on the host; an engine
/// buffer whose engine implements <see cref="IParameterUpdateKernels"/> (OpenCL) is updated in place by the engine's
/// kernels; any other memory (CUDA buffers, a storage of your own) is updated through <see cref="ReadGradient"/>,
/// <see cref="ReadValue"/> and <see cref="WriteValue"/> (download, step on the host, upload).
/// </summary>
public interface IParameterStorage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Number of elements of the values (and of the gradient).</summary>
    long Count { get; }
    /// <summary>The values as an engine buffer (what an <see cref="RnnLayer{T}"/> reads), or null when they are not in one.</summary>
    RnnBuffer<T>? ValueBuffer { get; }
    /// <summary>The gradient as an engine buffer, or null.</summary>
    RnnBuffer<T>? GradientBuffer { get; }
    /// <summary>The values and the gradient as host memory, without a copy, when the process can address them; else false.</summary>
    bool TryGetHostSpans(out Span<T> value, out Span<T> gradient);
    /// <summary>Copies the values into <paramref name="destination"/> (exactly <see cref="Count"/> elements).</summary>
    void ReadValue(Span<T> destination);
    /// <summary>Replaces the values (exactly <see cref="Count"/> elements); bumps the value buffer's <see cref="RnnBuffer{T}.Version"/>.</summary>
    void WriteValue(ReadOnlySpan<T> source);
    /// <summary>Copies the gradient into <paramref name="destination"/>.</summary>
    void ReadGradient(Span<T> destination);
    /// <summary>Replaces the gradient.</summary>
    void WriteGradient(ReadOnlySpan<T> source);
    /// <summary>Sets the gradient to zero.</summary>
    void ClearGradient();
    /// <summary>Records that the values changed through a span or kernel (bumps the value buffer's version, if any).</summary>
    void MarkValueModified();
}

/// <summary>
/// Host arrays, optionally with CPU-engine views of them (<see cref="CpuEngine.Wrap{T}(T[])"/>) so that RNN layers read the
/// same memory in place.
/// </summary>
internal sealed class HostParameterStorage<T>(T[] value, T[] gradient, CpuBuffer<T>? valueView = null, CpuBuffer<T>? gradientView = null)
    : IParameterStorage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T[] Value { get; } = value;
    public T[] Gradient { get; } = gradient;
    public long Count => Value.Length;
    public RnnBuffer<T>? ValueBuffer => valueView;
    public RnnBuffer<T>? GradientBuffer => gradientView;

    public bool TryGetHostSpans(out Span<T> v, out Span<T> g)
    {
        v = Value;
        g = Gradient;
        return true;
    }

    public void ReadValue(Span<T> destination) => Value.AsSpan().CopyTo(destination);
    public void WriteValue(ReadOnlySpan<T> source)
    {
        source.CopyTo(Value);
        MarkValueModified();
    }
    public void ReadGradient(Span<T> destination) => Gradient.AsSpan().CopyTo(destination);
    public void WriteGradient(ReadOnlySpan<T> source)
    {
        source.CopyTo(Gradient);
        gradientView?.MarkModified();
    }
    public void ClearGradient()
    {
        Array.Clear(Gradient);
        gradientView?.MarkModified();
    }
    public void MarkValueModified() => valueView?.MarkModified();
}

/// <summary>Two engine buffers (values, gradient), owned or borrowed.</summary>
internal sealed class EngineParameterStorage<T>(RnnBuffer<T> value, RnnBuffer<T> gradient, bool owns)
    : IParameterStorage<T>, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    public long Count => value.Length;
    public RnnBuffer<T> ValueBuffer => value;
    public RnnBuffer<T> GradientBuffer => gradient;
    RnnBuffer<T>? IParameterStorage<T>.ValueBuffer => value;
    RnnBuffer<T>? IParameterStorage<T>.GradientBuffer => gradient;

    public bool TryGetHostSpans(out Span<T> v, out Span<T> g)
    {
        if (value is CpuBuffer<T> cv && gradient is CpuBuffer<T> cg)
        {
            v = cv.Span;
            g = cg.Span;
            return true;
        }
        v = g = default;
        return false;
    }

    public void ReadValue(Span<T> destination) => value.CopyTo(destination);
    public void WriteValue(ReadOnlySpan<T> source) => value.CopyFrom(source);
    public void ReadGradient(Span<T> destination) => gradient.CopyTo(destination);
    public void WriteGradient(ReadOnlySpan<T> source) => gradient.CopyFrom(source);
    public void ClearGradient() => gradient.Clear();
    public void MarkValueModified() => value.MarkModified();

    public void Dispose()
    {
        if (!owns) return;
        value.Dispose();
        gradient.Dispose();
    }
}
