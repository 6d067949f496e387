namespace CudnnRnn.Training;

/// <summary>
/// Batches built by length buckets: sentences of similar length go together (little wasted work), each batch lists its
/// sentences longest first (the packed layout needs descending lengths), and the batch order is shuffled.
/// </summary>
public static class LengthBuckets
{
    /// <summary>
    /// Splits sentence indices 0..lengths.Count−1 into batches of at most <paramref name="batchSize"/> sentences and
    /// at most <paramref name="maxTokens"/> tokens (a single longer sentence still forms its own batch). Every index
    /// appears in exactly one batch. With an <paramref name="rng"/>, equal lengths are shuffled and the batch order
    /// is random; without, the order is deterministic (longest batch first). With <paramref name="sameLength"/> a
    /// batch only holds sentences of one length, so batch shapes repeat and engines can reuse their cached plans.
    /// </summary>
    public static List<int[]> Create(IReadOnlyList<int> lengths, int batchSize, int maxTokens = int.MaxValue, SeededRandom? rng = null, bool sameLength = false)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        int n = lengths.Count;
        var order = new int[n];
        var keys = new long[n];
        var r = rng ?? default;
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
            // Longest first; ties broken randomly (or by index when deterministic).
            long tie = rng.HasValue ? (long)(r.NextUInt64() >> 33) : i;
            keys[i] = ((long)(int.MaxValue - lengths[i]) << 31) | tie;
        }
        Array.Sort(keys, order);
        var batches = new List<int[]>();
        var current = new List<int>(batchSize);
        long tokens = 0;
        foreach (int i in order)
        {
            if (current.Count > 0 && (current.Count == batchSize || tokens + lengths[i] > maxTokens || (sameLength && lengths[current[0]] != lengths[i])))
            {
                batches.Add(current.ToArray());
                current.Clear();
                tokens = 0;
            }
            current.Add(i);
            tokens += lengths[i];
        }
        if (current.Count > 0) batches.Add(current.ToArray());
        if (rng.HasValue) r.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batches));
        return batches;
    }
}
