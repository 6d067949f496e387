using System.Collections.Immutable;
using System.Numerics;
using CudnnRnn.Cpu;

namespace CudnnRnn.Training;

/// <summary>
/// A trainable tensor: row-major values and a gradient of the same size, in host arrays (embeddings, linear layers) or
/// in engine memory (RNN weights: <see cref="Of"/>, <see cref="FromBuffers"/>, <see cref="Allocate"/>). The optimizers
/// update either kind in place; see <see cref="IParameterStorage{T}"/> for how.
/// </summary>
public sealed class Parameter<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly HostParameterStorage<T>? _host;

    /// <summary>Creates a zero-filled parameter in host arrays.</summary>
    /// <param name="name">Name in model files (PyTorch-style, e.g. <c>output.weight</c>).</param>
    /// <param name="shape">Shape (row-major).</param>
    public Parameter(string name, params int[] shape) : this(name, shape, null) { }

    /// <summary>Creates a parameter over <paramref name="storage"/> (a storage of your own, e.g. memory of another GPU stack).</summary>
    /// <param name="name">Name in model files.</param>
    /// <param name="storage">Its values and gradient.</param>
    /// <param name="shape">Shape (row-major); its product must be the storage's Count. Empty: one dimension of Count.</param>
    public Parameter(string name, IParameterStorage<T> storage, params int[] shape) : this(name, shape, storage ?? throw new ArgumentNullException(nameof(storage))) { }

    private Parameter(string name, int[] shape, IParameterStorage<T>? storage)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (storage is not null && shape.Length == 0) shape = [checked((int)storage.Count)];
        if (shape.Length == 0 || shape.Any(d => d < 1)) throw new ArgumentException($"Parameter '{name}' needs a shape of positive dimensions.", nameof(shape));
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (n > Array.MaxLength) throw new ArgumentException($"Parameter '{name}' has {n} elements; at most {Array.MaxLength} are supported.", nameof(shape));
        if (storage is not null && storage.Count != n)
            throw new ArgumentException($"Parameter '{name}' has shape [{string.Join(", ", shape)}] = {n} elements, but its storage holds {storage.Count}.", nameof(shape));
        Name = name;
        Shape = [.. shape];
        Count = (int)n;
        Storage = storage ?? (_host = new HostParameterStorage<T>(new T[n], new T[n]));
        _host ??= storage as HostParameterStorage<T>;
    }

    /// <summary>
    /// A parameter over engine buffers the caller owns (the parameter never frees them): <paramref name="value"/> and
    /// <paramref name="gradient"/> must belong to one engine and have the same length.
    /// </summary>
    public static Parameter<T> FromBuffers(string name, RnnBuffer<T> value, RnnBuffer<T> gradient, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(gradient);
        value.ThrowIfDisposed();
        gradient.ThrowIfDisposed();
        if (!ReferenceEquals(value.Engine, gradient.Engine))
            throw new ArgumentException($"gradient is on the {gradient.Engine.Name} engine, value on the {value.Engine.Name} engine; both must be on one.", nameof(gradient));
        if (gradient.Length != value.Length)
            throw new ArgumentException($"gradient has {gradient.Length} elements; value has {value.Length}.", nameof(gradient));
        if (gradient.SharesMemoryWith(value))
            throw new ArgumentException("gradient shares memory with value; give it its own buffer.", nameof(gradient));
        return new Parameter<T>(name, shape, new EngineParameterStorage<T>(value, gradient, owns: false));
    }

    /// <summary>
    /// The weights of <paramref name="layer"/> and their gradients as one parameter, in place (no copy): an optimizer step
    /// on it changes <see cref="RnnLayer{T}.Weights"/> directly, and backward passes accumulate into its gradient. The
    /// layer keeps owning the memory; do not use the parameter after disposing the layer.
    /// </summary>
    public static Parameter<T> Of(RnnLayer<T> layer, string name = "rnn")
    {
        ArgumentNullException.ThrowIfNull(layer);
        return FromBuffers(name, layer.Weights, layer.WeightGradients);
    }

    /// <summary>
    /// A zero-filled parameter in <paramref name="engine"/>'s memory, owned by the parameter (<see cref="Dispose"/> frees
    /// it). On the CPU engine the memory is host arrays seen by the engine through non-owning views, so
    /// <see cref="Value"/> and <see cref="Grad"/> stay available and every layer built over <see cref="ValueBuffer"/> reads
    /// the same array; on device engines only the buffers exist.
    /// </summary>
    public static Parameter<T> Allocate(IRnnEngine engine, string name, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(shape);
        var host = new Parameter<T>(name, shape);
        if (engine is CpuEngine cpu)
        {
            var s = host._host!;
            return new Parameter<T>(name, shape, new HostParameterStorage<T>(s.Value, s.Gradient, cpu.Wrap(s.Value), cpu.Wrap(s.Gradient)));
        }
        var value = engine.Allocate<T>(host.Count);
        RnnBuffer<T>? gradient = null;
        try
        {
            gradient = engine.Allocate<T>(host.Count);
            return new Parameter<T>(name, shape, new EngineParameterStorage<T>(value, gradient, owns: true));
        }
        catch
        {
            gradient?.Dispose();
            value.Dispose();
            throw;
        }
    }

    /// <summary>Name in model files.</summary>
    public string Name { get; }
    /// <summary>Shape.</summary>
    public ImmutableArray<int> Shape { get; }
    /// <summary>Number of elements.</summary>
    public int Count { get; }
    /// <summary>When false the optimizer leaves it alone.</summary>
    public bool Trainable { get; set; } = true;
    /// <summary>Where the values and the gradient live.</summary>
    public IParameterStorage<T> Storage { get; }

    /// <summary>True when <see cref="Value"/> and <see cref="Grad"/> are host arrays (host parameters, and <see cref="Allocate"/> on the CPU engine).</summary>
    public bool HasHostArrays => _host is not null;

    /// <summary>
    /// The values as a host array (parameters with <see cref="HasHostArrays"/>). After writing into it directly, call
    /// <see cref="MarkValueModified"/> so forward contexts of layers reading it see the change. Throws
    /// <see cref="InvalidOperationException"/> for a parameter in engine memory: use <see cref="CopyValueTo"/> /
    /// <see cref="CopyValueFrom"/>.
    /// </summary>
    public T[] Value => _host?.Value ?? throw NotHost("Value", "CopyValueTo/CopyValueFrom");

    /// <summary>The gradient as a host array (accumulated by backward passes; cleared by <see cref="ZeroGrad"/>); see <see cref="Value"/>.</summary>
    public T[] Grad => _host?.Gradient ?? throw NotHost("Grad", "CopyGradientTo/CopyGradientFrom");

    /// <summary>The values as an engine buffer (what an <see cref="RnnLayer{T}"/> built over them reads), or null for a plain host parameter.</summary>
    public RnnBuffer<T>? ValueBuffer => Storage.ValueBuffer;
    /// <summary>The gradient as an engine buffer, or null for a plain host parameter.</summary>
    public RnnBuffer<T>? GradientBuffer => Storage.GradientBuffer;

    /// <summary>Copies the values into <paramref name="destination"/> (exactly <see cref="Count"/> elements), wherever they live.</summary>
    public void CopyValueTo(Span<T> destination)
    {
        CheckLength(destination.Length, nameof(destination));
        Storage.ReadValue(destination);
    }

    /// <summary>Replaces the values (exactly <see cref="Count"/> elements), wherever they live; layers' forward contexts see the change.</summary>
    public void CopyValueFrom(ReadOnlySpan<T> source)
    {
        CheckLength(source.Length, nameof(source));
        Storage.WriteValue(source);
    }

    /// <summary>Copies the gradient into <paramref name="destination"/>.</summary>
    public void CopyGradientTo(Span<T> destination)
    {
        CheckLength(destination.Length, nameof(destination));
        Storage.ReadGradient(destination);
    }

    /// <summary>Replaces the gradient.</summary>
    public void CopyGradientFrom(ReadOnlySpan<T> source)
    {
        CheckLength(source.Length, nameof(source));
        Storage.WriteGradient(source);
    }

    /// <summary>The values as a new host array.</summary>
    public T[] ValueToArray()
    {
        var a = new T[Count];
        Storage.ReadValue(a);
        return a;
    }

    /// <summary>Records a change made through <see cref="Value"/>'s array (bumps <see cref="ValueBuffer"/>'s version).</summary>
    public void MarkValueModified() => Storage.MarkValueModified();

    /// <summary>Sets the gradient to zero.</summary>
    public void ZeroGrad() => Storage.ClearGradient();

    /// <summary>Frees engine memory the parameter owns (<see cref="Allocate"/>); harmless otherwise and when repeated.</summary>
    public void Dispose() => (Storage as EngineParameterStorage<T>)?.Dispose();

    private void CheckLength(int length, string name)
    {
        if (length != Count) throw new ArgumentException($"{name} has {length} elements; parameter '{Name}' has {Count}.", name);
    }

    private InvalidOperationException NotHost(string member, string instead) =>
        new($"Parameter '{Name}' lives in {Storage.ValueBuffer?.Engine.Name ?? "custom"} engine memory, not in host arrays, so it has no {member} array; use {instead}.");

    /// <inheritdoc/>
    public override string ToString() => $"{Name} [{string.Join("x", Shape)}]";
}
