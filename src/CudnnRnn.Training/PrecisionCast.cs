using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CudnnRnn.Training;

/// <summary>
/// Vectorised conversions between float32 and the 16-bit storage types of mixed-precision training: float16
/// (<see cref="Half"/>, through <see cref="TensorPrimitives"/>) and bfloat16 (bit arithmetic on 128/256-bit vectors).
/// Narrowing rounds to nearest, ties to even, and keeps NaN; widening is exact. <see cref="NarrowChecked{TLow}"/> is for
/// weights: a value the 16-bit type cannot hold finitely is an error naming it, never a silent ±Infinity.
/// <see cref="Narrow{TLow}"/> is for activations and gradients, where an overflow must become ±Infinity so that the
/// loss scaler sees it. Nothing here allocates.
/// </summary>
public static class PrecisionCast
{
    /// <summary>float16's largest finite value, 65504 = (2 − 2⁻¹⁰) · 2¹⁵.</summary>
    public const float Float16MaxValue = 65504f;

    /// <summary>
    /// The smallest float32 magnitude that rounds to bfloat16 infinity (bits 0x7F7F8000, halfway between bfloat16's
    /// largest finite value 0x7F7F and 2¹²⁸; ties go to the even pattern 0x7F80, which is ∞).
    /// </summary>
    public static float BFloat16OverflowThreshold => BitConverter.UInt32BitsToSingle(0x7F7F8000u);

    private const int Chunk = 512;

    /// <summary>True when <typeparamref name="TLow"/> is a storage type these conversions handle (float, Half, BFloat16).</summary>
    public static bool IsSupported<TLow>() => typeof(TLow) == typeof(float) || typeof(TLow) == typeof(Half) || typeof(TLow) == typeof(BFloat16);

    /// <summary>
    /// Rounds <paramref name="source"/> into <paramref name="destination"/> after checking that every value is finite and
    /// within the 16-bit type's range (float16: |x| ≤ 65504; bfloat16: below <see cref="BFloat16OverflowThreshold"/>).
    /// </summary>
    /// <param name="source">float32 values (master weights).</param>
    /// <param name="destination">Same length.</param>
    /// <param name="name">The tensor's name, for the error.</param>
    /// <exception cref="OverflowException">A value is NaN, infinite or beyond the range; names the tensor, element and value.</exception>
    public static void NarrowChecked<TLow>(ReadOnlySpan<float> source, Span<TLow> destination, string name) where TLow : unmanaged
    {
        CheckLengths(source.Length, destination.Length);
        if (typeof(TLow) == typeof(Half)) CheckRange(source, Float16MaxValue, inclusive: true, "float16", name);
        else if (typeof(TLow) == typeof(BFloat16)) CheckRange(source, BFloat16OverflowThreshold, inclusive: false, "bfloat16", name);
        else if (typeof(TLow) == typeof(float))
        {
            int bad = SafeTensors.IndexOfNonFinite(source);
            if (bad >= 0) throw new OverflowException($"'{name}' element {bad} is {source[bad]}: a master weight must be finite.");
        }
        Narrow(source, destination);
    }

    /// <summary>Rounds <paramref name="source"/> into <paramref name="destination"/> (IEEE: overflow gives ±Infinity, NaN stays NaN).</summary>
    public static void Narrow<TLow>(ReadOnlySpan<float> source, Span<TLow> destination) where TLow : unmanaged
    {
        CheckLengths(source.Length, destination.Length);
        if (typeof(TLow) == typeof(Half)) TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<TLow, Half>(destination));
        else if (typeof(TLow) == typeof(BFloat16)) SingleToBFloat16Bits(source, MemoryMarshal.Cast<TLow, ushort>(destination));
        else if (typeof(TLow) == typeof(float)) source.CopyTo(MemoryMarshal.Cast<TLow, float>(destination));
        else throw Unsupported<TLow>();
    }

    /// <summary>Converts <paramref name="source"/> to float32 exactly.</summary>
    public static void Widen<TLow>(ReadOnlySpan<TLow> source, Span<float> destination) where TLow : unmanaged
    {
        CheckLengths(source.Length, destination.Length);
        if (typeof(TLow) == typeof(Half)) TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<TLow, Half>(source), destination);
        else if (typeof(TLow) == typeof(BFloat16)) BFloat16BitsToSingle(MemoryMarshal.Cast<TLow, ushort>(source), destination);
        else if (typeof(TLow) == typeof(float)) MemoryMarshal.Cast<TLow, float>(source).CopyTo(destination);
        else throw Unsupported<TLow>();
    }

    /// <summary>
    /// Adds <paramref name="source"/>, converted to float32, to <paramref name="target"/> (the backward of a cast: a
    /// 16-bit gradient accumulates into the float32 master gradient). Returns the index of the first NaN or infinite
    /// value of <paramref name="source"/>, or −1; the sum is done either way.
    /// </summary>
    public static int AddWidened<TLow>(ReadOnlySpan<TLow> source, Span<float> target) where TLow : unmanaged
    {
        CheckLengths(source.Length, target.Length);
        Span<float> tmp = stackalloc float[Chunk];
        int firstBad = -1;
        for (int start = 0; start < source.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, source.Length - start);
            var t = tmp[..n];
            Widen(source.Slice(start, n), t);
            if (firstBad < 0)
            {
                int bad = SafeTensors.IndexOfNonFinite<float>(t);
                if (bad >= 0) firstBad = start + bad;
            }
            var dst = target.Slice(start, n);
            TensorPrimitives.Add(dst, t, dst);
        }
        return firstBad;
    }

    private static void CheckRange(ReadOnlySpan<float> source, float limit, bool inclusive, string type, string name)
    {
        if (source.IsEmpty) return;
        float m = TensorPrimitives.MaxMagnitude(source); // NaN when any value is NaN
        if (inclusive ? MathF.Abs(m) <= limit : MathF.Abs(m) < limit) return;
        for (int i = 0; i < source.Length; i++)
        {
            float a = MathF.Abs(source[i]);
            if (inclusive ? a <= limit : a < limit) continue;
            string what = float.IsNaN(source[i]) ? "NaN" : float.IsInfinity(source[i]) ? (source[i] > 0 ? "+Infinity" : "-Infinity")
                : source[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            throw new OverflowException(
                $"'{name}' element {i} is {what}: beyond {type}'s range ({(inclusive ? "|x| ≤ " : "|x| < ")}{limit.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}), " +
                $"so its {type} copy would not be finite. Lower the learning rate, or train in {(type == "float16" ? "bf16 or fp32" : "fp32")}.");
        }
    }

    private static void CheckLengths(int source, int destination)
    {
        if (source != destination) throw new ArgumentException($"destination has {destination} elements; source has {source}.", nameof(destination));
    }

    private static NotSupportedException Unsupported<TLow>() =>
        new($"Element type {typeof(TLow).Name} is not a mixed-precision storage type; expected float, Half or BFloat16.");

    /// <summary>float32 → bfloat16 bit patterns, round to nearest even, NaN made quiet (the same rounding as <see cref="BFloat16"/>'s conversion).</summary>
    internal static void SingleToBFloat16Bits(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        ref uint src = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
        ref ushort dst = ref MemoryMarshal.GetReference(destination);
        nuint n = (nuint)source.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
                Vector256.Narrow(Round(Vector256.LoadUnsafe(ref src, i)), Round(Vector256.LoadUnsafe(ref src, i + 8))).StoreUnsafe(ref dst, i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                Vector128.Narrow(Round(Vector128.LoadUnsafe(ref src, i)), Round(Vector128.LoadUnsafe(ref src, i + 4))).StoreUnsafe(ref dst, i);
        for (; i < n; i++) Unsafe.Add(ref dst, i) = BFloat16.ToBits((BFloat16)BitConverter.UInt32BitsToSingle(Unsafe.Add(ref src, i)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round(Vector256<uint> x)
    {
        var rounded = (x + Vector256.Create(0x7FFFu) + ((x >> 16) & Vector256<uint>.One)) >> 16;
        var nan = Vector256.GreaterThan(x & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(nan, (x >> 16) | Vector256.Create(0x0040u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Round(Vector128<uint> x)
    {
        var rounded = (x + Vector128.Create(0x7FFFu) + ((x >> 16) & Vector128<uint>.One)) >> 16;
        var nan = Vector128.GreaterThan(x & Vector128.Create(0x7FFF_FFFFu), Vector128.Create(0x7F80_0000u));
        return Vector128.ConditionalSelect(nan, (x >> 16) | Vector128.Create(0x0040u), rounded);
    }

    /// <summary>bfloat16 bit patterns → float32 (exact: the bits become the upper half).</summary>
    internal static void BFloat16BitsToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        ref ushort src = ref MemoryMarshal.GetReference(source);
        ref uint dst = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        nuint n = (nuint)source.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref src, i));
                (lo << 16).StoreUnsafe(ref dst, i);
                (hi << 16).StoreUnsafe(ref dst, i + 8);
            }
        if (Vector128.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref src, i));
                (lo << 16).StoreUnsafe(ref dst, i);
                (hi << 16).StoreUnsafe(ref dst, i + 4);
            }
        for (; i < n; i++) Unsafe.Add(ref dst, i) = (uint)Unsafe.Add(ref src, i) << 16;
    }
}
