namespace CudnnRnn.Cpu;

// Dropout between layers: the same counter-based mask in the forward (on the layer output) and in backward-data (on the
// output gradient), so no mask is stored.
internal sealed partial class CpuPlan<T>
{
    /// <summary>dst[k] = src[k] / (1 − p) where element k of layer <paramref name="layer"/> is kept, else 0. src may be dst.</summary>
    private void ApplyDropout(ReadOnlySpan<T> src, Span<T> dst, int layer, ulong counter)
    {
        T scale = _dropScale;
        for (int k = 0; k < src.Length; k++)
            dst[k] = Keep(layer, counter, k) ? src[k] * scale : T.Zero;
    }

    /// <summary>
    /// Dropout mask bit: a counter-based hash of (seed, forward index, layer, element), so masks are reproducible. The
    /// OpenCL kernel <c>dropout</c> computes the same bits (keep when the top 53 bits, as u in [0, 1), are ≥ p).
    /// </summary>
    private bool Keep(int layer, ulong counter, int index)
    {
        ulong z = Rnn.DropoutSeed ^ (counter * SeededRandom.Increment) ^ ((ulong)layer << 48) ^ (ulong)(uint)index;
        return SeededRandom.ToUnit(SeededRandom.Hash(z)) >= Rnn.Dropout;
    }
}
