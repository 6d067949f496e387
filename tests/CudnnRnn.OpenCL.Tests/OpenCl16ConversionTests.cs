using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>
/// The device conversion kernels of the 16-bit plans against .NET's conversions (System.Half, CudnnRnn.BFloat16), bit
/// for bit: every one of the 65,536
/// 16-bit patterns to float, and back from float on every float a 16-bit value maps to, every exact tie between two
/// neighbours and its two float neighbours (round to nearest even is decided there), the overflow boundary, and a fixed
/// sample of random float bit patterns (subnormals, NaN payloads, huge values).
/// </summary>
public sealed class OpenCl16ConversionTests
{
    /// <summary>Every binary16 pattern to float, exactly as (float)Half does it.</summary>
    [Fact]
    public void Half_ToFloat_AllPatterns_MatchDotNet()
    {
        var bits = AllPatterns();
        var actual = ToFloat(RnnDataType.Float16, bits);
        AssertBitwise(bits, actual, i => (float)BitConverter.UInt16BitsToHalf(bits[i]), "half_to_float");
    }

    /// <summary>Floats to binary16 with round to nearest even, exactly as (Half)float does it.</summary>
    [Fact]
    public void Half_FromFloat_EdgeAndRandomFloats_MatchDotNet()
    {
        var floats = HalfProbeFloats();
        var actual = FromFloat(RnnDataType.Float16, floats);
        AssertBitwise(floats, actual, i => BitConverter.HalfToUInt16Bits((Half)floats[i]), "float_to_half");
    }

    /// <summary>Every bfloat16 pattern to float, exactly as the BFloat16 struct does it.</summary>
    [Fact]
    public void BFloat16_ToFloat_AllPatterns_MatchDotNet()
    {
        var bits = AllPatterns();
        var actual = ToFloat<BFloat16>(RnnDataType.BFloat16, bits);
        AssertBitwise(bits, actual, i => (float)BFloat16.FromBits(bits[i]), "bf16_to_float");
    }

    /// <summary>Floats to bfloat16 with round to nearest even, NaN kept, exactly as (BFloat16)float does it.</summary>
    [Fact]
    public void BFloat16_FromFloat_EdgeAndRandomFloats_MatchDotNet()
    {
        var floats = BFloat16ProbeFloats();
        var actual = FromFloat<BFloat16>(RnnDataType.BFloat16, floats);
        AssertBitwise(floats, actual, i => BFloat16.ToBits((BFloat16)floats[i]), "float_to_bf16");
        // NaN whose payload sits only in the discarded bits stays NaN (truncation alone would give infinity).
        int lowNaN = Array.FindIndex(floats, f => BitConverter.SingleToUInt32Bits(f) == 0x7F800001u);
        Assert.True(BFloat16.IsNaN(BFloat16.FromBits(actual[lowNaN])), $"0x7F800001 became 0x{actual[lowNaN]:X4}");
    }

    /// <summary>The bitwise checker rejects one flipped bit (it is the only judge of the kernels above).</summary>
    [Fact]
    public void BitwiseChecker_RejectsOneCorruptedValue()
    {
        var bits = AllPatterns();
        var converted = bits.Select(b => (float)BitConverter.UInt16BitsToHalf(b)).ToArray();
        converted[12345] = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(converted[12345]) ^ 1);
        var e = Assert.ThrowsAny<Exception>(() =>
            AssertBitwise(bits, converted, i => (float)BitConverter.UInt16BitsToHalf(bits[i]), "corrupted"));
        Assert.Contains("12345", e.Message);
    }

    internal static ushort[] AllPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    /// <summary>Floats that decide float → binary16 rounding, plus random bit patterns (fixed seed).</summary>
    internal static float[] HalfProbeFloats()
    {
        var list = new List<float>();
        for (int i = 0; i < 65536; i++)
        {
            var h = BitConverter.UInt16BitsToHalf((ushort)i);
            float f = (float)h;
            list.Add(f);
            if (!Half.IsFinite(h)) continue;
            // The exact midpoint to the next binary16 value up (away from zero) and its float neighbours.
            var next = Half.IsNegative(h) ? Half.BitDecrement(h) : Half.BitIncrement(h);
            double mid = ((double)f + (double)(float)next) / 2; // exact in double; also exact in float (12 significant bits)
            float m = (float)mid;
            list.Add(m);
            list.Add(MathF.BitIncrement(m));
            list.Add(MathF.BitDecrement(m));
        }
        list.AddRange([65504f, 65519.996f, 65520f, 65536f, -65520f, float.MaxValue, float.Epsilon, -float.Epsilon,
            5.96e-8f, 2.98e-8f, 2.9802322e-8f, 2.9802326e-8f, float.NaN, -float.NaN]);
        var rng = new Random(20261129);
        for (int i = 0; i < 1 << 20; i++) list.Add(BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)));
        return [.. list];
    }

    /// <summary>Floats that decide float → bfloat16 rounding: every bfloat16 value, every exact tie between neighbours and
    /// its float neighbours, the overflow boundary, NaN payloads in the kept and in the discarded bits, random patterns.</summary>
    internal static float[] BFloat16ProbeFloats()
    {
        var list = new List<float>();
        for (uint i = 0; i < 65536; i++)
        {
            uint b = i << 16;
            list.Add(BitConverter.UInt32BitsToSingle(b));
            if ((b & 0x7F800000u) == 0x7F800000u) continue; // Inf / NaN: no neighbour above
            // The tie with the next value away from zero is b + 0x8000 (exact in float); its float neighbours decide.
            foreach (uint d in new uint[] { 0x8000u, 0x7FFFu, 0x8001u, 0x0001u, 0xFFFFu })
                list.Add(BitConverter.UInt32BitsToSingle(b + d));
        }
        foreach (uint bits in new uint[] { 0x7F7F8000u, 0x7F7F7FFFu, 0xFF7F8000u, 0x7F800001u, 0xFF800001u, 0x7FC00000u, 0x7FBFFFFFu, 0x00000001u, 0x80008000u })
            list.Add(BitConverter.UInt32BitsToSingle(bits));
        var rng = new Random(20261129);
        for (int i = 0; i < 1 << 20; i++) list.Add(BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)));
        return [.. list];
    }

    internal static float[] ToFloat(RnnDataType type, ushort[] bits) => ToFloat<Half>(type, bits);

    internal static ushort[] FromFloat(RnnDataType type, float[] floats) => FromFloat<Half>(type, floats);

    internal static float[] ToFloat<T16>(RnnDataType type, ushort[] bits) where T16 : unmanaged, System.Numerics.IFloatingPointIeee754<T16>
    {
        var engine = SharedOpenCl.Require();
        using var convert = new OpenClConversions(engine, type);
        using var src = engine.AllocateBuffer<T16>(bits.Length);
        using var dst = engine.AllocateBuffer<float>(bits.Length);
        dst.Fill(float.NaN);
        src.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.Cast<ushort, T16>(bits));
        convert.ToFloat(src.Handle, dst.Handle, bits.Length);
        engine.Synchronize();
        return dst.ToArray();
    }

    internal static ushort[] FromFloat<T16>(RnnDataType type, float[] floats) where T16 : unmanaged, System.Numerics.IFloatingPointIeee754<T16>
    {
        var engine = SharedOpenCl.Require();
        using var convert = new OpenClConversions(engine, type);
        using var src = engine.AllocateBuffer<float>(floats.Length);
        using var dst = engine.AllocateBuffer<T16>(floats.Length);
        dst.Fill(T16.NaN);
        src.CopyFrom(floats);
        convert.FromFloat(src.Handle, dst.Handle, floats.Length);
        engine.Synchronize();
        return System.Runtime.InteropServices.MemoryMarshal.Cast<T16, ushort>(dst.ToArray()).ToArray();
    }

    /// <summary>Asserts actual[i] has exactly the bits of expected(i) for every i; reports the first few mismatches.</summary>
    internal static void AssertBitwise<TIn>(TIn[] input, float[] actual, Func<int, float> expected, string what) =>
        AssertBits(input, actual.Select(BitConverter.SingleToUInt32Bits).ToArray(), i => BitConverter.SingleToUInt32Bits(expected(i)), what);

    internal static void AssertBitwise<TIn>(TIn[] input, ushort[] actual, Func<int, ushort> expected, string what) =>
        AssertBits(input, actual.Select(v => (uint)v).ToArray(), i => expected(i), what);

    private static void AssertBits<TIn>(TIn[] input, uint[] actual, Func<int, uint> expected, string what)
    {
        Assert.Equal(input.Length, actual.Length);
        var bad = new List<string>();
        int count = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            uint e = expected(i);
            if (actual[i] == e) continue;
            count++;
            if (bad.Count < 8) bad.Add($"[{i}] input {Show(input[i])}: got 0x{actual[i]:X}, expected 0x{e:X}");
        }
        Assert.True(count == 0, $"{what}: {count} of {actual.Length} values differ: {string.Join("; ", bad)}");
    }

    private static string Show<TIn>(TIn v) => v switch
    {
        float f => $"{f:R} (0x{BitConverter.SingleToUInt32Bits(f):X8})",
        ushort u => $"0x{u:X4}",
        _ => $"{v}",
    };
}
