using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// float64 central-difference checks. Step h = 1e-6: truncation error O(h²·f''') ≈ 1e-12 and round-off ≈ ε·|L|/h ≈ 1e-10,
/// so |analytic − numeric| ≤ 1e-7 + 1e-5·|numeric| leaves three orders of magnitude of margin, yet catches any
/// real error (a wrong term is off by O(|gradient|)).
/// </summary>
public class GradientCheckTests
{
    private const double H = 1e-6, Atol = 1e-7, Rtol = 1e-5;

    private static void AssertClose(string what, double analytic, double numeric)
    {
        double err = Math.Abs(analytic - numeric);
        Assert.True(err <= Atol + Rtol * Math.Abs(numeric),
            $"{what}: analytic {analytic:G10}, numeric {numeric:G10}, abs error {err:G3}, rel error {err / Math.Max(Math.Abs(numeric), 1e-300):G3}");
    }

    [Fact]
    public void Embedding_linear_masked_cross_entropy()
    {
        const int V = 5, D = 4, K = 3;
        var rng = new SeededRandom(11);
        var table = new double[V * D];
        var w = new double[K * D];
        var b = new double[K];
        rng.FillUniform<double>(table, 1);
        rng.FillUniform<double>(w, 1);
        rng.FillUniform<double>(b, 1);
        int[] ids = [1, 3, 1, 4, 0, 2];                 // repeated id: gradients must accumulate
        int[] targets = [0, 2, SoftmaxCrossEntropy.Ignore, 1, 1, SoftmaxCrossEntropy.Ignore];
        int n = ids.Length;
        double scale = 1.0 / targets.Count(t => t >= 0);

        double Loss(Span<double> dTable, Span<double> dW, Span<double> dB)
        {
            var x = new double[n * D];
            Embedding.Forward<double>(table, D, ids, x, D);
            var logits = new double[n * K];
            Linear.Forward<double>(x, n, D, w, b, K, logits);
            var dLogits = dTable.IsEmpty ? [] : new double[n * K];
            double loss = SoftmaxCrossEntropy.Compute<double>(logits, K, targets, scale, dLogits);
            if (!dTable.IsEmpty)
            {
                var dx = new double[n * D];
                Linear.Backward<double>(x, n, D, w, dLogits, K, dx, dW, dB);
                Embedding.Backward<double>(dTable, D, ids, dx, D);
            }
            return loss;
        }

        var gTable = new double[table.Length];
        var gW = new double[w.Length];
        var gB = new double[b.Length];
        Loss(gTable, gW, gB);
        Check("embedding", table, gTable);
        Check("weight", w, gW);
        Check("bias", b, gB);
        // Masked rows contribute nothing: row 4 uses id 0 with a valid target, id 2 only appears in a masked row.
        Assert.All(gTable.AsSpan(2 * D, D).ToArray(), g => Assert.Equal(0.0, g));

        void Check(string name, double[] values, double[] grad)
        {
            for (int i = 0; i < values.Length; i++)
            {
                double keep = values[i];
                values[i] = keep + H; double up = Loss(default, default, default);
                values[i] = keep - H; double down = Loss(default, default, default);
                values[i] = keep;
                AssertClose($"{name}[{i}]", grad[i], (up - down) / (2 * H));
            }
        }
    }

    [Fact]
    public void Masked_rows_do_not_change_the_loss()
    {
        var logits = new double[] { 1, 2, 3, 100, -100, 5 };
        double a = SoftmaxCrossEntropy.Compute<double>(logits, 3, [2, SoftmaxCrossEntropy.Ignore], 1.0, default);
        double b = SoftmaxCrossEntropy.Compute<double>(logits.AsSpan(0, 3), 3, [2], 1.0, default);
        Assert.Equal(b, a);
        Assert.Equal(Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)) - 3, a, 12);
    }

    public static TheoryData<CharModel, int> TaggerCases => new() { { CharModel.Cnn, 2 }, { CharModel.Lstm, 1 } };

    [Theory]
    [MemberData(nameof(TaggerCases))]
    public void Whole_tagger_loss(CharModel charModel, int layers)
    {
        var data = new List<TaggedSentence>
        {
            new(["The", "cat", "sat", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
            new(["A", "dog", "ran", "home", "."], ["DET", "NOUN", "VERB", "ADV", "PUNCT"]),
            new(["Cats", "sat"], ["NOUN", "VERB"]),
            new(["Run", "!"], ["VERB", "PUNCT"]),
        };
        var hyper = new TaggerHyperParameters
        {
            WordDim = 4, CharDim = 3, CharModel = charModel, CharFilters = 4, CharHidden = 3, ShapeDim = 2, Hidden = 5, Layers = layers,
            EmbeddingDropout = 0, Dropout = 0, WordDropout = 0, MinWordFrequency = 1, MaxCharsPerWord = 4,
        };
        using var engine = CpuEngine.Create(1);
        using var tagger = Tagger<double>.Create(engine, hyper, data, TagColumn.Upos, 7);
        var worker = tagger.GetWorker(0);
        int[] batch = [0, 1, 2, 3];
        double scale = 1.0 / data.Sum(s => s.Length);
        double Loss()
        {
            // No sync call: the workers' RNN layers read the master weight arrays in place, so a perturbation is seen as is.
            double l = worker.TrainStep(data, batch, scale, 1);
            worker.ZeroGrad();
            return l;
        }
        worker.ZeroGrad();
        worker.TrainStep(data, batch, scale, 1);
        var analytic = tagger.Parameters.Select(p => (double[])p.Grad.Clone()).ToArray();
        var rng = new SeededRandom(3);
        int checkedCount = 0;
        for (int pi = 0; pi < tagger.Parameters.Count; pi++)
        {
            var p = tagger.Parameters[pi];
            // A few entries with a non-zero gradient (plus one random entry) of each parameter.
            var idx = Enumerable.Range(0, p.Count).Where(i => analytic[pi][i] != 0).Take(4).Append(rng.NextInt(p.Count)).Distinct();
            foreach (int i in idx)
            {
                double keep = p.Value[i];
                p.Value[i] = keep + H; double up = Loss();
                p.Value[i] = keep - H; double down = Loss();
                p.Value[i] = keep;
                AssertClose($"{p.Name}[{i}]", analytic[pi][i], (up - down) / (2 * H));
                checkedCount++;
            }
        }
        Assert.True(checkedCount >= 5 * tagger.Parameters.Count - 5);
    }
}
