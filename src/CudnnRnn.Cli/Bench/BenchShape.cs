namespace CudnnRnn.Cli.Bench;

/// <summary>
/// One benchmark network and data shape: the same five shapes, ids and FLOP model as libtorch-bench
/// (../shared/tools/libtorch-bench), so that results compare line by line.
/// </summary>
internal sealed record BenchShape(string Id, RnnMode Mode, int Input, int Hidden, int Layers, bool Bidirectional, int Batch, int T, string Description)
{
    public static readonly BenchShape[] All =
    [
        new("a", RnnMode.Lstm, 128, 128, 1, false, 32, 50, "LSTM 128->128, 1 layer uni, B32 T50"),
        new("b", RnnMode.Lstm, 256, 256, 2, true, 16, 100, "LSTM 256->256, 2 layers bi, B16 T100"),
        new("c", RnnMode.Gru, 128, 256, 1, true, 64, 35, "GRU 128->256, 1 layer bi, B64 T35"),
        new("d", RnnMode.Lstm, 100, 128, 1, true, 32, 40, "tagger-like LSTM 100->128, 1 layer bi, B32 T40"),
        new("e", RnnMode.Lstm, 512, 512, 1, false, 64, 50, "big LSTM 512->512, 1 layer uni, B64 T50"),
    ];

    public int Gates => RnnDescriptor.GatesOf(Mode);
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>"a", "a,c" or "all".</summary>
    public static BenchShape[] Select(string selector)
    {
        if (selector == "all") return All;
        var ids = selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = ids.Where(id => All.All(s => s.Id != id)).ToArray();
        if (unknown.Length > 0)
            throw new ArgumentException($"Unknown shape(s) {string.Join(", ", unknown)}; expected a, b, c, d, e, a comma list, or all.", nameof(selector));
        return All.Where(s => ids.Contains(s.Id)).ToArray();
    }

    public RnnDescriptor Descriptor(RnnDataType dataType) =>
        new(Mode, Input, Hidden, Layers, Bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional, dataType: dataType);

    /// <summary>
    /// Sequence lengths: all T ("full"), or uniform in [T/2, T] from a fixed seed ("varied": the same lengths on every run
    /// and every machine, since <see cref="Random"/> with a seed is stable).
    /// </summary>
    public int[] Lengths(bool varied)
    {
        var lengths = new int[Batch];
        var rng = new Random(4242 + Id[0]);
        for (int b = 0; b < Batch; b++) lengths[b] = varied ? rng.Next(T / 2, T + 1) : T;
        return lengths;
    }

    /// <summary>
    /// Forward FLOPs, libtorch-bench's model counted on the actual lengths: per layer, direction, sequence and step,
    /// <c>2·gates·hidden·(in_l + hidden)</c>, with in_l = directions·hidden above layer 0. Backward counts 2× forward.
    /// </summary>
    public double ForwardFlops(ReadOnlySpan<int> lengths)
    {
        long steps = 0;
        foreach (int len in lengths) steps += len;
        double f = 0;
        for (int l = 0; l < Layers; l++)
        {
            int inl = l == 0 ? Input : Directions * Hidden;
            f += Directions * (double)steps * 2.0 * Gates * Hidden * (inl + Hidden);
        }
        return f;
    }
}
