using System.Globalization;

namespace CudnnRnn.Training;

/// <summary>
/// A sequence-labelling task where a token's label depends on the token after it, so only a model that reads the
/// sentence backwards too can solve it: tokens are digits 0–9, and the label of token t is <c>UP</c> when token t+1 is
/// greater, <c>DOWN</c> when it is not, and <c>END</c> for the last token. A forward-only model sees just the current
/// digit and can only guess from it (≈ 0.8 accuracy at best); a bidirectional one can reach 1.0.
/// </summary>
public static class SyntheticTask
{
    /// <summary>Generates <paramref name="count"/> sentences of length <paramref name="minLength"/>..<paramref name="maxLength"/>.</summary>
    public static List<TaggedSentence> Generate(int count, ulong seed, int minLength = 4, int maxLength = 16)
    {
        var rng = new SeededRandom(seed);
        var result = new List<TaggedSentence>(count);
        for (int s = 0; s < count; s++)
        {
            int len = rng.NextInt(minLength, maxLength + 1);
            var digits = new int[len];
            for (int i = 0; i < len; i++) digits[i] = rng.NextInt(10);
            var words = digits.Select(d => d.ToString(CultureInfo.InvariantCulture)).ToArray();
            var tags = new string[len];
            for (int i = 0; i < len; i++) tags[i] = i + 1 == len ? "END" : digits[i + 1] > digits[i] ? "UP" : "DOWN";
            result.Add(new TaggedSentence(words, tags));
        }
        return result;
    }

    /// <summary>The small architecture used for the task.</summary>
    public static TaggerHyperParameters HyperParameters(bool bidirectional, int hidden = 32) => new()
    {
        WordDim = 16, CharModel = CharModel.None, ShapeDim = 0, Hidden = hidden, Layers = 1, Bidirectional = bidirectional,
        EmbeddingDropout = 0, Dropout = 0, WordDropout = 0, MinWordFrequency = 1, Lowercase = false, NormalizeDigits = false,
    };

    /// <summary>Training settings for the task.</summary>
    public static TrainingOptions TrainingOptions(int epochs, ulong seed, int threads = 1) => new()
    {
        Epochs = epochs, BatchSize = 32, LearningRate = 1e-2, Beta2 = 0.999, Seed = seed, Threads = threads,
        Schedule = new LearningRateSchedule.Cosine(0.1),
    };
}
