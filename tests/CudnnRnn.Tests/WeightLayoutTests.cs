using CudnnRnn.Testing;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

public sealed class WeightLayoutTests
{
    [Fact]
    public void Canonical_Lstm_BiProj_HasPyTorchShapesAndCoversTheSpaceExactlyOnce()
    {
        var rnn = new RnnDescriptor(RnnMode.Lstm, 5, 10, 2, RnnDirection.Bidirectional, projSize: 3);
        var layout = RnnWeightLayout.Canonical(rnn);
        var names = layout.PyTorchParameters.Select(p => p.Name).ToArray();
        Assert.Equal(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_hr_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_hr_l1",
            "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse", "weight_hr_l1_reverse"], names);
        Assert.Equal([40, 5], layout.GetPyTorchParameter("weight_ih_l0").Shape);
        Assert.Equal([40, 6], layout.GetPyTorchParameter("weight_ih_l1").Shape);   // D * projSize
        Assert.Equal([40, 3], layout.GetPyTorchParameter("weight_hh_l1_reverse").Shape);
        Assert.Equal([3, 10], layout.GetPyTorchParameter("weight_hr_l0").Shape);
        Assert.Equal(layout.PyTorchParameters.Sum(p => p.Count), layout.TotalElements);
        // Import distinct values through every name, export them back: each element lands once and comes back unchanged.
        var ws = new double[layout.TotalElements];
        double next = 1;
        var expected = new Dictionary<string, double[]>();
        foreach (var p in layout.PyTorchParameters)
        {
            var v = Enumerable.Range(0, checked((int)p.Count)).Select(_ => next++).ToArray();
            expected[p.Name] = v;
            layout.ImportPyTorch<double>(ws, p.Name, v);
        }
        Assert.Equal(ws.Length, ws.Distinct().Count());
        Assert.DoesNotContain(0.0, ws);
        foreach (var p in layout.PyTorchParameters)
        {
            var back = new double[p.Count];
            layout.ExportPyTorch<double>(ws, p.Name, back);
            Assert.Equal(expected[p.Name], back);
        }
        // cuDNN's linLayerId 5 = recurrent forget gate = rows H..2H of weight_hh.
        var e = layout[1, 5];
        Assert.Equal((10, 3), (e.Rows, e.Cols));
        var hh = expected["weight_hh_l0_reverse"];
        Assert.Equal(hh[10 * 3], ws[e.MatrixOffset]);
        Assert.Equal(expected["bias_hh_l0_reverse"][10], ws[e.BiasOffset]);
        Assert.False(layout[0, 8].HasBias); // the projection has no bias
    }

    [Theory]
    [InlineData(RnnBiasMode.None, false, false)]
    [InlineData(RnnBiasMode.SingleInput, true, false)]
    [InlineData(RnnBiasMode.SingleRecurrent, false, true)]
    [InlineData(RnnBiasMode.Double, true, true)]
    public void BiasModes_DecideWhichBiasesExist(RnnBiasMode mode, bool bw, bool br)
    {
        var layout = RnnWeightLayout.Canonical(new RnnDescriptor(RnnMode.Gru, 4, 4, biasMode: mode));
        Assert.Equal(bw, layout[0, 0].HasBias);
        Assert.Equal(br, layout[0, 3].HasBias);
        Assert.Equal(bw, layout.PyTorchParameters.Any(p => p.Name == "bias_ih_l0"));
        Assert.Equal(br, layout.PyTorchParameters.Any(p => p.Name == "bias_hh_l0"));
    }

    [Fact]
    public void SkipInput_HasNoLayer0InputMatrix()
    {
        var layout = RnnWeightLayout.Canonical(new RnnDescriptor(RnnMode.Lstm, 4, 4, 2, inputMode: RnnInputMode.Skip));
        Assert.False(layout[0, 0].HasMatrix);
        Assert.True(layout[0, 0].HasBias); // NOT FOUND in cuDNN's docs whether it keeps these; we do (API.md §7.6)
        Assert.True(layout[1, 0].HasMatrix);
        Assert.DoesNotContain(layout.PyTorchParameters, p => p.Name == "weight_ih_l0");
    }

    [Fact]
    public void FromEntries_AcceptsAnotherBlockOrder_AndImportStillWorks()
    {
        // "all matrices first, then all biases" (one of the two candidate cuDNN orders, API.md §7.4).
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 2, 1, RnnDirection.Bidirectional);
        var canonical = RnnWeightLayout.Canonical(rnn);
        var entries = new List<RnnWeightEntry>();
        long off = 0;
        foreach (var e in canonical.Entries) { entries.Add(e with { MatrixOffset = off }); off += e.Rows * e.Cols; }
        for (int i = 0; i < entries.Count; i++) { entries[i] = entries[i] with { BiasOffset = off }; off += entries[i].BiasLength; }
        var layout = RnnWeightLayout.FromEntries(rnn, entries, off);
        var ws = new float[off];
        layout.ImportPyTorch<float>(ws, "bias_hh_l0_reverse", [1, 2, 3, 4, 5, 6]);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], ws[^6..]);
    }

    [Fact]
    public void FromEntries_RejectsWrongShapesOverlapsAndGaps()
    {
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 3, 2);
        var ok = RnnWeightLayout.Canonical(rnn).Entries.ToArray();
        Assert.Contains("expected 2x3", Assert.Throws<ArgumentException>(() => RnnWeightLayout.FromEntries(rnn, [ok[0] with { Cols = 4 }, ok[1]], 14)).Message);
        Assert.Contains("overlaps", Assert.Throws<ArgumentException>(() => RnnWeightLayout.FromEntries(rnn, [ok[0], ok[1] with { MatrixOffset = 1 }], 14)).Message);
        Assert.Contains("outside the weight space", Assert.Throws<ArgumentException>(() => RnnWeightLayout.FromEntries(rnn, ok, 10)).Message);
        Assert.Contains("Missing entry", Assert.Throws<ArgumentException>(() => RnnWeightLayout.FromEntries(rnn, [ok[0]], 14)).Message);
        Assert.Contains("Duplicate", Assert.Throws<ArgumentException>(() => RnnWeightLayout.FromEntries(rnn, [ok[0], ok[0], ok[1]], 14)).Message);
    }
}

public sealed class RnnLayerTests
{
    [Fact]
    public void Init_IsUniformInPyTorchRange_AndSeeded()
    {
        using var a = new RnnLayer<float>(TestCpu.Engine(), new RnnDescriptor(RnnMode.Lstm, 7, 16, 2, RnnDirection.Bidirectional), seed: 3);
        using var b = new RnnLayer<float>(TestCpu.Engine(), new RnnDescriptor(RnnMode.Lstm, 7, 16, 2, RnnDirection.Bidirectional), seed: 3);
        using var c = new RnnLayer<float>(TestCpu.Engine(), new RnnDescriptor(RnnMode.Lstm, 7, 16, 2, RnnDirection.Bidirectional), seed: 4);
        var w = a.Weights.ToArray();
        Assert.All(w, v => Assert.InRange(v, -0.25f, 0.25f)); // 1/sqrt(16)
        Assert.True(w.Max() > 0.24f && w.Min() < -0.24f, "draws should fill the range");
        Assert.Equal(w, b.Weights.ToArray());
        Assert.NotEqual(w, c.Weights.ToArray());
    }

    [Fact]
    public void ForwardBackward_MatchesThePlanAndAccumulatesGradients()
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, 3, 4, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 4, 3, 3, [4, 2, 3]);
        using var layer = new RnnLayer<double>(TestCpu.Engine(), rnn, seed: 1);
        var x = Rand.Data(1, xDesc, 0);
        var dy = Rand.Data(2, xDesc.WithVectorSize(8), 0);
        RnnOutput<double> outp;
        RnnInputGradients<double> g;
        using (var c = layer.Forward(xDesc, x)) { outp = c.ReadOutputs(); g = layer.Backward(c, dy); }
        var reference = Pass<double>.Run(TestCpu.Engine(), rnn, xDesc, layer.Weights.ToArray(), x, null, null, dy, null, null);
        Assert.Equal(reference.Y, outp.Y);
        Assert.Equal(reference.Dx, g.Dx);
        Assert.Equal(reference.Dw, layer.WeightGradients.ToArray());
        using (var c = layer.Forward(xDesc, x)) layer.Backward(c, dy);
        // ADD semantics: the second pass adds onto the first. Adding into a non-zero buffer changes the summation order,
        // so the result is 2·dW within a few float64 ulps of the gradient scale (8·ε·(|e| + scale), the derived bound).
        var twice = layer.WeightGradients.ToArray();
        double scale = reference.Dw.Max(Math.Abs) * 2, eps = Verification.Tolerance.Epsilon<double>();
        for (int i = 0; i < twice.Length; i++)
            Assert.True(Math.Abs(twice[i] - 2 * reference.Dw[i]) <= 8 * eps * (2 * Math.Abs(reference.Dw[i]) + scale), $"dw[{i}]");
        layer.ZeroGrad();
        Assert.All(layer.WeightGradients.ToArray(), v => Assert.Equal(0.0, v));
        layer.Training = false;
        using var inference = layer.Forward(xDesc, x);
        Assert.Contains("Training = false", Assert.Throws<InvalidOperationException>(() => layer.Backward(inference, dy)).Message);
    }

    [Fact]
    public void PyTorchNames_RoundTrip()
    {
        using var layer = new RnnLayer<float>(TestCpu.Engine(), new RnnDescriptor(RnnMode.Lstm, 3, 4, projSize: 2));
        var v = Enumerable.Range(0, 8).Select(i => (float)i).ToArray();
        layer.ImportPyTorch("weight_hr_l0", v);
        Assert.Equal(v, layer.ExportPyTorch("weight_hr_l0"));
        Assert.Throws<ArgumentException>(() => layer.ImportPyTorch("weight_hr_l1", v));
    }
}
