using System.Numerics;

namespace CudnnRnn;

/// <summary>
/// The tree's one seeded generator (SplitMix64): reproducible everywhere, no allocation. Weight initialisation
/// (<see cref="RnnLayer{T}.ResetParameters"/>), the gradient checker's data, the CPU engine's dropout masks and the
/// training toolkit all draw from it.
/// </summary>
public struct SeededRandom
{
    /// <summary>SplitMix64's increment (2^64 / φ).</summary>
    public const ulong Increment = 0x9E3779B97F4A7C15UL;

    private ulong _state;

    /// <summary>Starts a stream from <paramref name="seed"/> (mixed with a constant first, so seed 0 is an ordinary seed).</summary>
    public SeededRandom(ulong seed) => _state = seed ^ 0x5DEECE66DUL;

    /// <summary>Starts a stream from the raw SplitMix64 state (what <see cref="RnnLayer{T}.ResetParameters"/> and the gradient checker use).</summary>
    public static SeededRandom FromState(ulong state) => new() { _state = state };

    /// <summary>SplitMix64's output function: the random value of state <paramref name="z"/> + <see cref="Increment"/>.</summary>
    public static ulong Hash(ulong z)
    {
        z += Increment;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The top 53 bits of <paramref name="bits"/> as a double in [0, 1).</summary>
    public static double ToUnit(ulong bits) => (bits >> 11) * (1.0 / (1UL << 53));

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state;
        _state += Increment;
        return Hash(z);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => ToUnit(NextUInt64());

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
