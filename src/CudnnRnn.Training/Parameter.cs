using System.Collections.Immutable;
using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>A trainable tensor: row-major values and a gradient of the same size.</summary>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a zero-filled parameter.</summary>
    /// <param name="name">Name in model files (PyTorch-style, e.g. <c>output.weight</c>).</param>
    /// <param name="shape">Shape (row-major).</param>
    public Parameter(string name, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (shape.Length == 0 || shape.Any(d => d < 1)) throw new ArgumentException($"Parameter '{name}' needs a shape of positive dimensions.", nameof(shape));
        Name = name;
        Shape = [.. shape];
        long n = shape.Aggregate(1L, (a, b) => a * b);
        Value = new T[n];
        Grad = new T[n];
    }

    /// <summary>Name in model files.</summary>
    public string Name { get; }
    /// <summary>Shape.</summary>
    public ImmutableArray<int> Shape { get; }
    /// <summary>Values.</summary>
    public T[] Value { get; }
    /// <summary>Gradient (accumulated by backward passes; cleared by <see cref="ZeroGrad"/>).</summary>
    public T[] Grad { get; }
    /// <summary>Number of elements.</summary>
    public int Count => Value.Length;
    /// <summary>When false the optimizer leaves it alone.</summary>
    public bool Trainable { get; set; } = true;

    /// <summary>Sets the gradient to zero.</summary>
    public void ZeroGrad() => Array.Clear(Grad);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} [{string.Join("x", Shape)}]";
}
