using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// CudnnWeightLayoutBuilder against recorded-style cudnnGetRNNWeightParams tables in BOTH candidate block orders of
/// API.md §7.4 (the order is a disagreement between sources, §12.1; [VG]'s "all matrices first" is unverified).
/// </summary>
public sealed class WeightLayoutBuilderTests
{
    internal enum Order { PerPseudoLayer, AllMatricesThenAllBiases }

    /// <summary>A table as cuDNN would report it if it used <paramref name="order"/>; offsets in bytes.</summary>
    internal static (long TotalBytes, List<CudnnWeightParams> Table) MakeTable(RnnDescriptor rnn, Order order, int padBytesAtEnd = 0)
    {
        int elem = rnn.DataType == RnnDataType.Float32 ? 4 : 8;
        int ids = rnn.LinLayerIdCount, g = rnn.Gates;
        var m = new long?[rnn.PseudoLayerCount, ids];
        var b = new long?[rnn.PseudoLayerCount, ids];
        long off = 0;
        void Matrices(int pl)
        {
            for (int id = 0; id < 2 * g; id++)
            {
                var (r, c) = RnnWeightLayout.ExpectedMatrixShape(rnn, pl, id);
                if (r == 0) continue;
                m[pl, id] = off;
                off += (long)r * c * elem;
            }
            if (rnn.Mode == RnnMode.Lstm && rnn.HasProjection)
            {
                m[pl, 8] = off;
                off += (long)rnn.ProjSize * rnn.HiddenSize * elem;
            }
        }
        void Biases(int pl)
        {
            for (int id = 0; id < 2 * g; id++)
            {
                int len = RnnWeightLayout.ExpectedBiasLength(rnn, id);
                if (len == 0) continue;
                b[pl, id] = off;
                off += (long)len * elem;
            }
        }
        if (order == Order.PerPseudoLayer)
        {
            for (int pl = 0; pl < rnn.PseudoLayerCount; pl++) { Matrices(pl); Biases(pl); }
        }
        else
        {
            for (int pl = 0; pl < rnn.PseudoLayerCount; pl++) Matrices(pl);
            for (int pl = 0; pl < rnn.PseudoLayerCount; pl++) Biases(pl);
        }
        var table = new List<CudnnWeightParams>();
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            for (int id = 0; id < ids; id++)
            {
                var (r, c) = RnnWeightLayout.ExpectedMatrixShape(rnn, pl, id);
                int len = RnnWeightLayout.ExpectedBiasLength(rnn, id);
                table.Add(new CudnnWeightParams(pl, id, m[pl, id], m[pl, id] is null ? null : [1, r, c], b[pl, id], b[pl, id] is null ? null : [1, len, 1]));
            }
        return (off + padBytesAtEnd, table);
    }

    public static TheoryData<string, int> Configs => new()
    {
        { "lstm-bi-L2-proj", 0 }, { "lstm-bi-L2-proj", 1 },
        { "gru-bi-L3-double", 0 }, { "gru-bi-L3-double", 1 },
        { "tanh-uni-L2-nobias-f64", 0 }, { "tanh-uni-L2-nobias-f64", 1 },
        { "relu-bi-L1-singleinp", 0 }, { "relu-bi-L1-singleinp", 1 },
        { "lstm-uni-L2-skip-singlerec", 0 }, { "lstm-uni-L2-skip-singlerec", 1 },
    };

    internal static RnnDescriptor Config(string name) => name switch
    {
        "lstm-bi-L2-proj" => new RnnDescriptor(RnnMode.Lstm, 5, 7, 2, RnnDirection.Bidirectional, projSize: 3),
        "gru-bi-L3-double" => new RnnDescriptor(RnnMode.Gru, 4, 6, 3, RnnDirection.Bidirectional),
        "tanh-uni-L2-nobias-f64" => new RnnDescriptor(RnnMode.RnnTanh, 3, 5, 2, biasMode: RnnBiasMode.None, dataType: RnnDataType.Float64),
        "relu-bi-L1-singleinp" => new RnnDescriptor(RnnMode.RnnRelu, 2, 4, 1, RnnDirection.Bidirectional, biasMode: RnnBiasMode.SingleInput),
        "lstm-uni-L2-skip-singlerec" => new RnnDescriptor(RnnMode.Lstm, 6, 6, 2, inputMode: RnnInputMode.Skip, biasMode: RnnBiasMode.SingleRecurrent),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void Builds_the_layout_from_either_block_order(string config, int orderIndex)
    {
        var rnn = Config(config);
        var order = (Order)orderIndex;
        int elem = rnn.DataType == RnnDataType.Float32 ? 4 : 8;
        var (bytes, table) = MakeTable(rnn, order);
        var layout = CudnnWeightLayoutBuilder.Build(rnn, bytes, elem, table);

        Assert.Equal(bytes / elem, layout.TotalElements);
        foreach (var row in table)
        {
            var e = layout[row.PseudoLayer, row.LinLayerId];
            Assert.Equal(row.MatrixOffsetBytes is { } mo ? mo / elem : -1, e.MatrixOffset);
            Assert.Equal(row.BiasOffsetBytes is { } bo ? bo / elem : -1, e.BiasOffset);
            Assert.Equal(row.MatrixDims?[1] ?? 0, e.Rows);
            Assert.Equal(row.MatrixDims?[2] ?? 0, e.Cols);
            Assert.Equal(row.BiasDims?[1] ?? 0, e.BiasLength);
        }

        var expectedOrder = rnn.PseudoLayerCount < 2 || rnn.BiasMode == RnnBiasMode.None
            ? CudnnWeightBlockOrder.OtherOrAmbiguous
            : order == Order.PerPseudoLayer ? CudnnWeightBlockOrder.PerPseudoLayer : CudnnWeightBlockOrder.AllMatricesThenAllBiases;
        Assert.Equal(expectedOrder, CudnnWeightLayoutBuilder.ClassifyBlockOrder(layout));

        // PyTorch import goes through the entries: gate j, row r, col c of weight_hh of the last pseudo-layer lands at
        // entry (pl, g + j) + r*cols + c, wherever the table put that block.
        int pl = rnn.PseudoLayerCount - 1;
        string name = "weight_hh_l" + (rnn.NumLayers - 1) + (rnn.NumDirections == 2 ? "_reverse" : "");
        var p = layout.GetPyTorchParameter(name);
        var values = Enumerable.Range(1, checked((int)p.Count)).Select(i => (double)i).ToArray();
        var space = new double[layout.TotalElements];
        layout.ImportPyTorch<double>(space, name, values);
        int g = rnn.Gates, rows = rnn.HiddenSize, cols = rnn.StateSize;
        for (int j = 0; j < g; j++)
        {
            var e = layout[pl, g + j];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    Assert.Equal(values[(j * rows + r) * cols + c], space[e.MatrixOffset + r * cols + c]);
        }
    }

    [Fact]
    public void The_two_orders_really_differ_for_a_multi_layer_network()
    {
        var rnn = Config("gru-bi-L3-double");
        var (_, a) = MakeTable(rnn, Order.PerPseudoLayer);
        var (_, b) = MakeTable(rnn, Order.AllMatricesThenAllBiases);
        Assert.NotEqual(a.Select(r => r.BiasOffsetBytes), b.Select(r => r.BiasOffsetBytes));
    }

    [Fact]
    public void A_weight_space_larger_than_the_parameters_is_accepted()
    {
        // Whether cuDNN's space can exceed the parameters is NOT FOUND (API.md §7.4); PyTorch tolerates it, so do we.
        var rnn = Config("lstm-bi-L2-proj");
        var (bytes, table) = MakeTable(rnn, Order.PerPseudoLayer, padBytesAtEnd: 64);
        Assert.Equal(bytes / 4, CudnnWeightLayoutBuilder.Build(rnn, bytes, 4, table).TotalElements);
    }

    private static ArgumentException BuildFails(RnnDescriptor rnn, Func<List<CudnnWeightParams>, List<CudnnWeightParams>> edit, long? bytes = null, int elem = 4)
    {
        var (b, table) = MakeTable(rnn, Order.PerPseudoLayer);
        return Assert.ThrowsAny<ArgumentException>(() => CudnnWeightLayoutBuilder.Build(rnn, bytes ?? b, elem, edit(table)));
    }

    private static List<CudnnWeightParams> Replace(List<CudnnWeightParams> t, int index, Func<CudnnWeightParams, CudnnWeightParams> f)
    {
        t[index] = f(t[index]);
        return t;
    }

    [Fact]
    public void A_misaligned_offset_is_rejected()
    {
        var e = BuildFails(Config("lstm-bi-L2-proj"), t => Replace(t, 3, r => r with { MatrixOffsetBytes = r.MatrixOffsetBytes + 2 }));
        Assert.Contains("not a multiple of the element size 4", e.Message);
        Assert.Contains("linLayerId 3", e.Message);
    }

    [Fact]
    public void Wrong_matrix_dims_are_rejected()
    {
        var rnn = Config("lstm-bi-L2-proj");
        var e = BuildFails(rnn, t => Replace(t, 0, r => r with { MatrixDims = [1, rnn.HiddenSize, rnn.InputSize + 1] }));
        Assert.Contains($"expected {rnn.HiddenSize}x{rnn.InputSize}", e.Message);
        e = BuildFails(rnn, t => Replace(t, 0, r => r with { MatrixDims = [2, rnn.HiddenSize, rnn.InputSize] }));
        Assert.Contains("expected 3 dims {1, rows, cols}", e.Message);
        e = BuildFails(rnn, t => Replace(t, 0, r => r with { MatrixDims = [rnn.HiddenSize, rnn.InputSize] }));
        Assert.Contains("expected 3 dims", e.Message);
    }

    [Fact]
    public void Wrong_bias_dims_and_unexpected_or_missing_blocks_are_rejected()
    {
        var rnn = Config("gru-bi-L3-double");
        var e = BuildFails(rnn, t => Replace(t, 1, r => r with { BiasDims = [1, rnn.HiddenSize, 2] }));
        Assert.Contains("{1, rows, 1}", e.Message);
        e = BuildFails(rnn, t => Replace(t, 1, r => r with { BiasDims = [1, rnn.HiddenSize + 1, 1] }));
        Assert.Contains($"expected {rnn.HiddenSize}", e.Message);
        e = BuildFails(rnn, t => Replace(t, 2, r => r with { BiasOffsetBytes = null }));
        Assert.Contains("bias absent", e.Message);
        e = BuildFails(rnn, t => { t.RemoveAt(5); return t; });
        Assert.Contains("Missing entry", e.Message);
        // A projection block reported for an LSTM without projection.
        var noProj = new RnnDescriptor(RnnMode.Lstm, 3, 4);
        e = BuildFails(noProj, t => Replace(t, 8, r => r with { MatrixOffsetBytes = 0, MatrixDims = [1, 4, 4] }));
        Assert.Contains("expected absent", e.Message);
    }

    [Fact]
    public void Offsets_outside_the_space_overlapping_or_negative_are_rejected()
    {
        var rnn = Config("gru-bi-L3-double");
        var (bytes, _) = MakeTable(rnn, Order.PerPseudoLayer);
        var e = BuildFails(rnn, t => t, bytes: bytes - 4);
        Assert.Contains("outside the weight space", e.Message);
        e = BuildFails(rnn, t => Replace(t, 1, r => r with { MatrixOffsetBytes = t[0].MatrixOffsetBytes }));
        Assert.Contains("overlaps", e.Message);
        e = BuildFails(rnn, t => Replace(t, 0, r => r with { MatrixOffsetBytes = -8 }));
        Assert.Contains("before the weight-space base", e.Message);
    }

    [Fact]
    public void Size_and_element_size_mismatches_name_the_argument()
    {
        var rnn = Config("lstm-bi-L2-proj");
        var (bytes, table) = MakeTable(rnn, Order.PerPseudoLayer);
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => CudnnWeightLayoutBuilder.Build(rnn, bytes, 8, table));
        Assert.Equal("elemSize", e1.ParamName);
        var e2 = Assert.Throws<ArgumentException>(() => CudnnWeightLayoutBuilder.Build(rnn, bytes + 2, 4, table));
        Assert.Equal("totalBytes", e2.ParamName);
        Assert.Throws<ArgumentNullException>(() => CudnnWeightLayoutBuilder.Build(rnn, bytes, 4, null!));
    }
}
