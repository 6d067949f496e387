namespace CudnnRnn.Testing;

/// <summary>
/// Seeded random networks and data shapes for the engine parity tests: every mode, 1–3 layers, both directions, variable
/// lengths, all three layouts (packed included), LSTM projection and cell clipping (both NaN policies), all four bias
/// modes, skip input, dropout, and a padding fill. Seed k always gives mode k % 4, so every mode appears equally; the
/// last seeds are fixed combinations a random draw may miss (everything at once, on every mode).
/// </summary>
public static class RandomConfigurations
{
    /// <summary>Random draws (the fixed combinations come after them).</summary>
    public const int RandomCount = 16;

    private static readonly (RnnDescriptor Rnn, RnnDataDescriptor XDesc)[] Fixed =
    [
        (new RnnDescriptor(RnnMode.Lstm, 5, 8, 3, RnnDirection.Bidirectional, projSize: 3, RnnBiasMode.Double, RnnInputMode.Linear,
            RnnDataType.Float64, dropout: 0.3, dropoutSeed: 42, cellClip: new RnnCellClip(-0.4, 0.5)),
         new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 7, 4, 5, [3, 7, 1, 5], paddingFill: 2.5)),
        (new RnnDescriptor(RnnMode.Gru, 6, 6, 2, RnnDirection.Bidirectional, null, RnnBiasMode.SingleRecurrent, RnnInputMode.Skip,
            RnnDataType.Float64, dropout: 0.4, dropoutSeed: 7),
         new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 6, 5, 6, [6, 5, 5, 2, 1])),
        (new RnnDescriptor(RnnMode.Gru, 3, 7, 3, RnnDirection.Unidirectional, null, RnnBiasMode.SingleInput, RnnInputMode.Linear,
            RnnDataType.Float64, dropout: 0.2, dropoutSeed: 99),
         new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 5, 3, 3, [2, 5, 4], paddingFill: -3)),
        (new RnnDescriptor(RnnMode.RnnRelu, 4, 9, 2, RnnDirection.Bidirectional, null, RnnBiasMode.Double, RnnInputMode.Linear,
            RnnDataType.Float64, dropout: 0.5, dropoutSeed: 5),
         new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 8, 6, 4, [8, 1, 8, 3, 6, 2])),
    ];

    /// <summary>Every seed: the random draws, then the fixed combinations.</summary>
    public static int Count => RandomCount + Fixed.Length;

    /// <summary>The network and data shape of <paramref name="seed"/> in <paramref name="dataType"/>.</summary>
    public static (RnnDescriptor Rnn, RnnDataDescriptor XDesc) Get(int seed, RnnDataType dataType)
    {
        if (seed >= RandomCount) return (Fixed[seed - RandomCount].Rnn.WithDataType(dataType), Fixed[seed - RandomCount].XDesc);
        var rng = new Random(1000 + seed);
        var mode = (RnnMode)(seed % 4);
        int hidden = rng.Next(2, 13);
        int layers = rng.Next(1, 4);
        var direction = rng.Next(2) == 0 ? RnnDirection.Unidirectional : RnnDirection.Bidirectional;
        bool skip = rng.Next(4) == 0;
        int input = skip ? hidden : rng.Next(1, 11);
        int? proj = mode == RnnMode.Lstm && rng.Next(2) == 0 ? rng.Next(1, hidden) : null;
        var bias = (RnnBiasMode)rng.Next(4);
        double dropout = layers > 1 && rng.Next(2) == 0 ? 0.1 + 0.4 * rng.NextDouble() : 0.0;
        RnnCellClip? clip = null;
        if (mode == RnnMode.Lstm && rng.Next(2) == 0)
        {
            double a = 0.3 + rng.NextDouble();
            clip = new RnnCellClip(-a, a * (0.5 + rng.NextDouble()), rng.Next(2) == 0 ? ClipNanMode.Propagate : ClipNanMode.NotPropagate);
        }
        var rnn = new RnnDescriptor(mode, input, hidden, layers, direction, proj, bias,
            skip ? RnnInputMode.Skip : RnnInputMode.Linear, dataType, dropout, (ulong)rng.NextInt64(), clip);

        var layout = (RnnDataLayout)rng.Next(3);
        int T = rng.Next(1, 9), B = rng.Next(1, 6);
        var lengths = Enumerable.Range(0, B).Select(_ => rng.Next(1, T + 1)).ToArray();
        lengths[rng.Next(B)] = T;
        if (layout == RnnDataLayout.SeqMajorPacked) Array.Sort(lengths, (p, q) => q.CompareTo(p));
        double fill = rng.Next(2) == 0 ? 0.0 : -1.25;
        return (rnn, new RnnDataDescriptor(layout, T, B, input, lengths, fill));
    }
}
