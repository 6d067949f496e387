using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

public class BatchingTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(7, false)]
    [InlineData(32, false)]
    [InlineData(32, true)]
    public void Every_sentence_is_in_exactly_one_batch_sorted_longest_first(int batchSize, bool sameLength)
    {
        var rng = new SeededRandom(5);
        var lengths = Enumerable.Range(0, 1001).Select(_ => rng.NextInt(1, 60)).ToArray();
        var batches = LengthBuckets.Create(lengths, batchSize, maxTokens: 400, new SeededRandom(9), sameLength);
        var seen = new int[lengths.Length];
        foreach (var b in batches)
        {
            Assert.NotEmpty(b);
            Assert.True(b.Length <= batchSize);
            Assert.True(b.Length == 1 || b.Sum(i => lengths[i]) <= 400);
            for (int j = 1; j < b.Length; j++) Assert.True(lengths[b[j - 1]] >= lengths[b[j]]);
            if (sameLength) Assert.All(b, i => Assert.Equal(lengths[b[0]], lengths[i]));
            foreach (int i in b) seen[i]++;
        }
        Assert.All(seen, c => Assert.Equal(1, c));
    }

    [Fact]
    public void Buckets_keep_similar_lengths_together_and_the_order_is_reproducible()
    {
        var rng = new SeededRandom(1);
        var lengths = Enumerable.Range(0, 500).Select(_ => rng.NextInt(1, 50)).ToArray();
        var a = LengthBuckets.Create(lengths, 16, rng: new SeededRandom(3));
        var b = LengthBuckets.Create(lengths, 16, rng: new SeededRandom(3));
        Assert.Equal(a.Select(x => string.Join(",", x)), b.Select(x => string.Join(",", x)));
        // 500 sentences over 49 lengths in batches of 16: a batch spans at most a few lengths.
        Assert.All(a, x => Assert.True(lengths[x[0]] - lengths[x[^1]] <= 3));
    }
}
