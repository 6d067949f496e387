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

/// <summary>A small seeded generator (SplitMix64): reproducible everywhere, no allocation.</summary>
public struct SeededRandom
{
    private ulong _state;

    /// <summary>Starts a stream from <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed) => _state = seed ^ 0x5DEECE66DUL;

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) * (ulong)n >> 31);

    /// <summary>Uniform integer in [lo, hi).</summary>
    public int NextInt(int lo, int hi) => lo + NextInt(hi - lo);

    /// <summary>Fills <paramref name="values"/> uniformly in [−scale, scale].</summary>
    public void FillUniform<T>(Span<T> values, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++) values[i] = T.CreateChecked((2 * NextDouble() - 1) * scale);
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<TItem>(Span<TItem> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
