using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// The tagger's sentence RNN as stacked single-layer RNNs: with dropout 0 it equals the multi-layer RNN (forward and
/// both backwards, float64), its weights stay in the multi-layer format (a model file written by the multi-layer code
/// predicts the same tags), and the dropout between layers is keyed by sample.
/// </summary>
public sealed class StackedRnnTests
{
    private static double[] Random(long n, ulong seed, double scale)
    {
        var rng = new SeededRandom(seed);
        var a = new double[n];
        rng.FillUniform<double>(a, scale);
        return a;
    }

    /// <summary>How the stack reaches the master weights: views of the master array (CPU), its own copies (as on device
    /// engines whose layout the library picks), or copies with a master gradient buffer it accumulates into.</summary>
    public enum WeightPath { Views, Copies, CopiesIntoMasterGradient }

    [Theory]
    [InlineData(RnnMode.Lstm, true, 3, WeightPath.Views)]
    [InlineData(RnnMode.Gru, true, 2, WeightPath.Views)]
    [InlineData(RnnMode.RnnTanh, false, 2, WeightPath.Views)]
    [InlineData(RnnMode.Lstm, true, 3, WeightPath.Copies)]
    [InlineData(RnnMode.Gru, false, 2, WeightPath.CopiesIntoMasterGradient)]
    [InlineData(RnnMode.Lstm, true, 1, WeightPath.Views)]
    [InlineData(RnnMode.Lstm, true, 1, WeightPath.CopiesIntoMasterGradient)]
    public void Stacked_single_layers_equal_the_multi_layer_rnn_forward_and_backward_without_dropout(RnnMode mode, bool bidirectional, int layers, WeightPath path)
    {
        const int input = 5, hidden = 4;
        int[] lengths = [6, 4, 4, 1];
        int rows = lengths.Sum(), T = lengths[0];
        using var engine = CpuEngine.Create(1);
        var multiDesc = new RnnDescriptor(mode, input, hidden, layers, bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional,
            dataType: RnnDataType.Float64);
        using var multi = new RnnLayer<double>(engine, multiDesc);
        var w = Random(multi.WeightLayout.TotalElements, 1, 0.5);
        multi.Weights.CopyFrom(w);
        int count = checked((int)w.Length);
        using var value = engine.Allocate<double>(count);
        using var gradient = engine.Allocate<double>(count);
        using var master = path == WeightPath.CopiesIntoMasterGradient
            ? Parameter<double>.FromBuffers("rnn", value, gradient, count)
            : Parameter<double>.Allocate(engine, "rnn", count);
        master.CopyValueFrom(w);
        using var stacked = new StackedRnn<double>(engine, multiDesc, master,
            path == WeightPath.CopiesIntoMasterGradient ? master.GradientBuffer : null, allowViews: path == WeightPath.Views);
        Assert.Equal(path == WeightPath.Views || layers == 1, stacked.InPlace);
        var desc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 8, lengths.Length, input, lengths);
        var x = Random((long)rows * input, 2, 1);
        int O = multiDesc.OutputSize;
        var dy = Random((long)rows * O, 3, 1);

        using var ctx = multi.Forward(desc, x);
        var yMulti = ctx.Y.ToArray();
        var dxMulti = multi.Backward(ctx, dy).Dx;
        var gMulti = multi.WeightGradients.ToArray();

        int[] order = [0, 1, 2, 3], stepOff = new int[T + 1];
        for (int t = 0; t < T; t++) stepOff[t + 1] = stepOff[t] + lengths.Count(l => l > t);
        var yStacked = stacked.Forward(desc, x, training: true, p: 0, stepSeed: 9, order, lengths, stepOff).AsSpan(0, rows * O).ToArray();
        var dxStacked = stacked.Backward(dy);
        var gStacked = new double[w.Length];
        if (path == WeightPath.CopiesIntoMasterGradient) master.CopyGradientTo(gStacked);
        else stacked.AddGradientsTo(gStacked);

        // Both compute the same per-layer sums; only the order of a reduction may differ between the two code paths. A
        // dot product of n terms rounded in another order differs by ≤ 2·γ_n·Σ|terms| (γ_n ≈ n·u, u = 2^-53); the
        // longest dependency chain is layers × T steps of dot products of n ≤ input + hidden·D + 2 terms, so a value
        // differs by at most chain·2·γ_n·(its scale): |Δ| ≤ 2·n·u·layers·T·rows·max(1, max|ref|) (rows: weight gradients
        // sum over every row). ≈ 1e-11 here, against O(1e-1) differences for a mis-mapped weight (checked by corrupting it).
        double u = Math.Pow(2, -53);
        int n = input + hidden * multiDesc.NumDirections + 2;
        double bound = 2.0 * n * u * layers * T * rows;
        AssertClose(yMulti, yStacked, bound, "y");
        AssertClose(dxMulti, dxStacked, bound, "dx");
        AssertClose(gMulti, gStacked, bound, "dw");
    }

    [Fact]
    public void The_copying_path_reloads_the_weights_after_the_master_changed()
    {
        int[] lengths = [3, 2];
        using var engine = CpuEngine.Create(1);
        var multiDesc = new RnnDescriptor(RnnMode.Gru, 3, 4, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64);
        using var multi = new RnnLayer<double>(engine, multiDesc);
        int count = checked((int)multi.WeightLayout.TotalElements);
        using var master = Parameter<double>.Allocate(engine, "rnn", count);
        using var stacked = new StackedRnn<double>(engine, multiDesc, master, allowViews: false);
        var desc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 3, 2, 3, lengths);
        var x = Random(5 * 3, 2, 1);
        int[] order = [0, 1], stepOff = [0, 2, 4, 5];
        master.CopyValueFrom(Random(count, 1, 0.5));
        stacked.Forward(desc, x, training: false, p: 0, stepSeed: 1, order, lengths, stepOff);
        var w2 = Random(count, 7, 0.5);
        master.CopyValueFrom(w2);          // an optimizer step writes the master the same way (and bumps its version)
        var y = stacked.Forward(desc, x, training: false, p: 0, stepSeed: 1, order, lengths, stepOff).AsSpan(0, 5 * multiDesc.OutputSize).ToArray();
        multi.Weights.CopyFrom(w2);
        multi.Training = false;
        using var ctx = multi.Forward(desc, x);
        // Stale weights would differ by O(0.1); the same weights agree up to reduction order (see the bound above).
        AssertClose(ctx.Y.ToArray(), y, 2.0 * 12 * Math.Pow(2, -53) * 2 * 3 * 5, "y");
    }

    private static void AssertClose(double[] expected, double[] actual, double relativeBound, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relativeBound * scale,
                $"{what}[{i}]: multi-layer {expected[i]:R}, stacked {actual[i]:R}, |Δ| {Math.Abs(expected[i] - actual[i]):E3} > {relativeBound * scale:E3}");
    }

    [Fact]
    public void A_model_file_written_by_the_multi_layer_code_predicts_the_same_tags()
    {
        // Written by the code before the stacking (see Fixtures/GenerateTagger2LayerFixture.cs.txt): 2-layer BiLSTM, float64.
        string dir = Path.Combine(AppContext.BaseDirectory, "Fixtures");
        using var engine = CpuEngine.Create(1);
        using var tagger = TaggerModelFile.Load<double>(Path.Combine(dir, "tagger-2layer-bilstm-f64.safetensors"), engine);
        Assert.Equal(2, tagger.Hyper.Layers);
        var lines = File.ReadAllLines(Path.Combine(dir, "tagger-2layer-bilstm-f64.tags.tsv"));
        var sentences = lines.Select(l => l.Split('\t')[0].Split(' ')).ToList();
        var expected = lines.Select(l => l.Split('\t')[1].Split(' ')).ToList();
        var got = tagger.Predict(sentences);
        int tokens = expected.Sum(e => e.Length), distinct = expected.SelectMany(e => e).Distinct().Count();
        Assert.True(tokens > 500 && distinct >= 4, $"the fixture must discriminate: {tokens} tokens, {distinct} distinct tags");
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i], got[i]);
        // Saving it again writes the same tensors (the multi-layer names and values, bit for bit).
        string copy = Path.Combine(Path.GetTempPath(), $"cudnnrnn-stacked-{Guid.NewGuid():N}.safetensors");
        try
        {
            TaggerModelFile.Save(tagger, copy);
            var a = SafeTensors.Read(Path.Combine(dir, "tagger-2layer-bilstm-f64.safetensors")).Tensors;
            var b = SafeTensors.Read(copy).Tensors;
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.Contains("lstm.weight_ih_l1_reverse", a.Keys);
            foreach (var (k, v) in a) Assert.Equal(v.Values, b[k].Values);
        }
        finally { File.Delete(copy); }
    }

    [Fact]
    public void Dropout_between_layers_is_keyed_by_sentence_and_layer_not_by_batch_neighbours()
    {
        // One batch of 3 sentences vs each sentence alone: with keyed masks every sentence's rows (and gradient share)
        // are the same whichever batch it is in. A mask drawn per call from one generator would differ (checked below).
        var data = SyntheticTask.Generate(12, 3);
        var hyper = SyntheticTask.HyperParameters(true, 6) with { Layers = 3, Dropout = 0.5 };
        using var engine = CpuEngine.Create(1);
        using var tagger = Tagger<double>.Create(engine, hyper, data, TagColumn.Upos, 4);
        var w = tagger.GetWorker(0);
        int[] batch = [2, 5, 7];
        w.ZeroGrad();
        double lossAll = w.TrainStep(data, batch, 1, seed: 77);
        var gAll = tagger.RnnWeights.Grad.ToArray();
        double lossSum = 0;
        var gSum = new double[gAll.Length];
        foreach (int i in batch)
        {
            w.ZeroGrad();
            lossSum += w.TrainStep(data, [i], 1, seed: 77);
            for (int k = 0; k < gSum.Length; k++) gSum[k] += tagger.RnnWeights.Grad[k];
        }
        // float64, sums of ≲ 10³ terms regrouped: ≲ 1e3·u relative; 1e-10 leaves room and is 10⁶ below a changed mask's effect.
        Assert.True(Math.Abs(lossAll - lossSum) <= 1e-10 * Math.Abs(lossAll), $"loss {lossAll:R} vs {lossSum:R}");
        double scale = gAll.Max(Math.Abs), diff = gAll.Zip(gSum).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(diff <= 1e-10 * scale, $"max |Δg| {diff:E3} (scale {scale:E3})");
        // The checker can fail: another step seed draws other masks and moves the gradient far beyond the bound.
        w.ZeroGrad();
        w.TrainStep(data, batch, 1, seed: 78);
        double moved = gAll.Zip(tagger.RnnWeights.Grad).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(moved > 1e-4 * scale, $"another seed moved the gradient by only {moved:E3}");
    }
}
