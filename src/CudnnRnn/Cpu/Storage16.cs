using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// Whole-span conversions between 16-bit storage (<see cref="Half"/>, <see cref="BFloat16"/>) and float, vectorised:
/// Half through <see cref="TensorPrimitives"/>, bfloat16 by bit operations on <see cref="Vector{T}"/>. float → 16-bit
/// rounds to nearest, ties to even (NaN stays NaN, beyond the largest finite value becomes ±Infinity, as IEEE rounding
/// does); 16-bit → float is exact.
/// </summary>
internal static class Storage16
{
    /// <summary>True for the element types stored in 16 bits and computed in float.</summary>
    public static bool Is16Bit<T>() => typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16);

    /// <summary>Widens <paramref name="source"/> into <paramref name="destination"/> (same length), exactly.</summary>
    public static void ToSingle<T>(ReadOnlySpan<T> source, Span<float> destination) where T : unmanaged
    {
        if (source.Length != destination.Length) throw new ArgumentException("Lengths differ.", nameof(destination));
        if (typeof(T) == typeof(Half)) { TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<T, Half>(source), destination); return; }
        if (typeof(T) != typeof(BFloat16)) throw new NotSupportedException($"{typeof(T)} is not a 16-bit storage type.");
        var src = MemoryMarshal.Cast<T, ushort>(source);
        var dst = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = MemoryMarshal.Cast<ushort, Vector<ushort>>(src);
            for (int v = 0; v < vs.Length; v++)
            {
                Vector.Widen(vs[v], out Vector<uint> lo, out Vector<uint> hi);
                (lo << 16).CopyTo(dst.Slice(i));
                (hi << 16).CopyTo(dst.Slice(i + Vector<uint>.Count));
                i += Vector<ushort>.Count;
            }
        }
        for (; i < src.Length; i++) dst[i] = (uint)src[i] << 16;
    }

    /// <summary>Rounds <paramref name="source"/> into <paramref name="destination"/> (same length): nearest, ties to even.</summary>
    public static void FromSingle<T>(ReadOnlySpan<float> source, Span<T> destination) where T : unmanaged
    {
        if (source.Length != destination.Length) throw new ArgumentException("Lengths differ.", nameof(destination));
        if (typeof(T) == typeof(Half)) { TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<T, Half>(destination)); return; }
        if (typeof(T) != typeof(BFloat16)) throw new NotSupportedException($"{typeof(T)} is not a 16-bit storage type.");
        var src = MemoryMarshal.Cast<float, uint>(source);
        var dst = MemoryMarshal.Cast<T, ushort>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int n = Vector<uint>.Count;
            var absMask = new Vector<uint>(0x7FFF_FFFFu);
            var inf = new Vector<uint>(0x7F80_0000u);
            var bias = new Vector<uint>(0x7FFFu);
            var one = Vector<uint>.One;
            var quiet = new Vector<uint>(0x0040u);
            for (; i + 2 * n <= src.Length; i += 2 * n)
            {
                var lo = Round(new Vector<uint>(src.Slice(i, n)), absMask, inf, bias, one, quiet);
                var hi = Round(new Vector<uint>(src.Slice(i + n, n)), absMask, inf, bias, one, quiet);
                Vector.Narrow(lo, hi).CopyTo(dst.Slice(i));
            }
        }
        for (; i < src.Length; i++) dst[i] = BFloat16.RoundFloatBits(src[i]);
    }

    /// <summary>The lane-wise form of <see cref="BFloat16.RoundFloatBits"/> (result in the low 16 bits of each lane).</summary>
    private static Vector<uint> Round(Vector<uint> u, Vector<uint> absMask, Vector<uint> inf, Vector<uint> bias, Vector<uint> one, Vector<uint> quiet)
    {
        var rounded = (u + bias + ((u >> 16) & one)) >> 16;
        var nan = Vector.GreaterThan(u & absMask, inf);
        return Vector.ConditionalSelect(nan, (u >> 16) | quiet, rounded);
    }
}
