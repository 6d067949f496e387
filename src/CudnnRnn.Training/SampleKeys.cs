using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// Keys of the training randomness. Every random draw is a function of (seed, epoch) for the batch order and of
/// (step seed, the sentence's index in the training data, purpose) for word dropout and the dropout masks — never of a
/// worker's, thread's or rank's generator — so the trained model depends on the seed and the global batch, not on how
/// many threads or ranks share the work, and a resumed run draws what the uninterrupted one would have drawn.
/// </summary>
public static class SampleKeys
{
    /// <summary>Purpose: word dropout (a word replaced by the unknown id).</summary>
    public const ulong WordDropout = 1;
    /// <summary>Purpose: dropout on the RNN input vectors.</summary>
    public const ulong EmbeddingDropout = 2;
    /// <summary>Purpose: dropout before the output layer.</summary>
    public const ulong OutputDropout = 3;
    /// <summary>Purpose: the batch order of an epoch.</summary>
    public const ulong EpochOrder = 4;
    /// <summary>Purpose: an optimizer step's seed.</summary>
    public const ulong Step = 5;

    /// <summary>
    /// Purpose: dropout on the output of sentence-RNN layer <paramref name="layer"/> (the input of layer + 1), which the
    /// tagger applies between its stacked single-layer RNNs.
    /// </summary>
    public static ulong RnnLayerDropout(int layer) => 0x100 + (ulong)checked((uint)layer);

    /// <summary>A 64-bit key mixing the three parts (SplitMix64 finaliser over each in turn).</summary>
    public static ulong Key(ulong seed, long index, ulong purpose)
    {
        ulong h = Mix(seed ^ 0x243F6A8885A308D3UL);
        h = Mix(h ^ (ulong)index);
        return Mix(h ^ (purpose * 0x9E3779B97F4A7C15UL));
    }

    /// <summary>
    /// Dropout on packed rows of width <paramref name="width"/> (row of sentence b at step t: stepOffsets[t] + b): each
    /// sentence's rows, its tokens in order, draw from a generator keyed by (step seed, its data index, purpose).
    /// </summary>
    internal static void RowDropout<T>(Span<T> values, Span<T> mask, int width, double p, ulong stepSeed, ulong purpose,
        ReadOnlySpan<int> dataIndex, ReadOnlySpan<int> lengths, ReadOnlySpan<int> stepOffsets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int b = 0; b < lengths.Length; b++)
        {
            var rng = new SeededRandom(Key(stepSeed, dataIndex[b], purpose));
            for (int t = 0; t < lengths[b]; t++)
            {
                int r = stepOffsets[t] + b;
                Dropout.Forward<T>(values.Slice(r * width, width), mask.Slice(r * width, width), p, ref rng);
            }
        }
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
