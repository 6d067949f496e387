using System.Globalization;
using CudnnRnn.Training;

namespace CudnnRnn.Distributed.Tests;

/// <summary>
/// End-to-end data-parallel runs under <c>mpirun -np 2</c> (spawned with a timeout): 2 ranks == 1 process, the DDP
/// broadcast, a throwing and a killed rank, resume == uninterrupted. One class, so the jobs run one after another (the
/// machine has 2 cores). Skipped visibly without mpirun.
/// </summary>
public sealed class MpiJobTests : IDisposable
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(180);
    private readonly string _dir = Directory.CreateTempSubdirectory("cudnnrnn-mpi-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string[] TrainArgs(string train, string model, int batch = 8, int layers = 1, int threads = 1, params string[] extra) =>
    [
        "tagger", "train", "--train", train, "--out", model, "--dtype", "float64", "--threads", threads.ToString(CultureInfo.InvariantCulture),
        "--layers", layers.ToString(CultureInfo.InvariantCulture), "--hidden", "16",
        "--batch-size", batch.ToString(CultureInfo.InvariantCulture), "--epochs", "2", "--seed", "7", .. extra,
    ];

    private static Dictionary<string, double[]> Weights(string model) =>
        SafeTensors.Read(model).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Values);

    private static void Succeeded(MpiJob.Outcome o, string what)
    {
        Assert.False(o.TimedOut, $"{what} did not finish within {JobTimeout}:\n{o.Output}");
        Assert.True(o.ExitCode == 0, $"{what} exited with {o.ExitCode}:\n{o.Output}");
    }

    // float64, 7 Adam steps (lr 2e-3): the two runs differ only in the order of floating-point sums (per-rank partial
    // gradients added by MPI instead of one sum). A gradient component's absolute error is then ≲ L·u·Σ|terms| with
    // L ≲ 10³ terms and u = 1.1e-16; Adam's update g/(√v+ε) is most sensitive at |g| ≈ ε = 1e-8 (slope 1/(4ε)), so a
    // step's weight error is ≲ lr·L·u·Σ|terms|/(4ε) ≈ 2e-3·1e-13·1e-3/4e-8 ≈ 5e-12; 7 steps stay far below 1e-9. A
    // different global batch moves weights by ~lr per step (≥ 1e-4), which the same check catches (see below).
    private const double Tolerance = 1e-9;

    private static double MaxDifference(Dictionary<string, double[]> a, Dictionary<string, double[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double max = 0;
        foreach (var (k, v) in a)
        {
            Assert.Equal(v.Length, b[k].Length);
            for (int i = 0; i < v.Length; i++) max = Math.Max(max, Math.Abs(v[i] - b[k][i]));
        }
        return max;
    }

    [Fact]
    public void Two_ranks_train_the_same_weights_as_one_process_float64()
    {
        MpiJob.RequireMpirun();
        string train = MpiJob.WriteTrainingData(_dir, 40, 11);
        string one = Path.Combine(_dir, "one.safetensors"), two = Path.Combine(_dir, "two.safetensors"), other = Path.Combine(_dir, "other.safetensors");
        Succeeded(MpiJob.Run(MpiJob.Cli, TrainArgs(train, one, extra: ["--max-steps", "7"]), JobTimeout), "1 process");
        var twoRanks = MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, two, extra: ["--max-steps", "7", "--distributed"]), JobTimeout);
        Succeeded(twoRanks, "mpirun -np 2");
        Assert.Contains("2 rank(s)", twoRanks.Output);
        double diff = MaxDifference(Weights(one), Weights(two));
        Assert.True(diff <= Tolerance, $"2 ranks vs 1 process: max |Δw| = {diff:E3} > {Tolerance:E0}");
        // The checker can fail: another global batch (6 instead of 8), same seed and steps, gives other weights.
        Succeeded(MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, other, batch: 6, extra: ["--max-steps", "7", "--distributed"]), JobTimeout), "batch 6");
        double changed = MaxDifference(Weights(one), Weights(other));
        Assert.True(changed > 1e3 * Tolerance, $"a different global batch only moved the weights by {changed:E3}");
    }

    [Fact]
    public void Two_layers_with_dropout_train_the_same_weights_on_2_ranks_as_in_1_process_with_1_or_2_threads_float64()
    {
        MpiJob.RequireMpirun();
        string train = MpiJob.WriteTrainingData(_dir, 40, 11);
        string one = Path.Combine(_dir, "one.safetensors"), threads2 = Path.Combine(_dir, "t2.safetensors"), two = Path.Combine(_dir, "two.safetensors"),
            other = Path.Combine(_dir, "other.safetensors");
        string[] steps = ["--max-steps", "7", "--dropout", "0.3"];
        Succeeded(MpiJob.Run(MpiJob.Cli, TrainArgs(train, one, layers: 2, extra: steps), JobTimeout), "1 process x 1 thread");
        Succeeded(MpiJob.Run(MpiJob.Cli, TrainArgs(train, threads2, layers: 2, threads: 2, extra: steps), JobTimeout), "1 process x 2 threads");
        var twoRanks = MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, two, layers: 2, extra: [.. steps, "--distributed"]), JobTimeout);
        Succeeded(twoRanks, "mpirun -np 2");
        Assert.DoesNotContain("note:", twoRanks.Output); // no "not rank-invariant" caveat any more
        // Same bound as above: only the order of the gradient sums differs (the inter-layer masks are keyed by sentence).
        double diff = MaxDifference(Weights(one), Weights(two)), diffThreads = MaxDifference(Weights(one), Weights(threads2));
        Assert.True(diff <= Tolerance, $"2 ranks vs 1 process, 2 layers with dropout: max |Δw| = {diff:E3} > {Tolerance:E0}");
        Assert.True(diffThreads <= Tolerance, $"2 threads vs 1, 2 layers with dropout: max |Δw| = {diffThreads:E3} > {Tolerance:E0}");
        // The checker can fail, and the dropout is really on: another dropout rate gives other weights.
        Succeeded(MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, other, layers: 2, extra: ["--max-steps", "7", "--dropout", "0.5", "--distributed"]), JobTimeout), "dropout 0.5");
        double changed = MaxDifference(Weights(one), Weights(other));
        Assert.True(changed > 1e3 * Tolerance, $"another dropout rate only moved the weights by {changed:E3}");
    }

    [Fact]
    public void Overlapping_the_all_reduce_with_backward_gives_bitwise_the_blocking_result()
    {
        MpiJob.RequireMpirun();
        string train = MpiJob.WriteTrainingData(_dir, 40, 11);
        string blocking = Path.Combine(_dir, "blocking.safetensors"), overlapped = Path.Combine(_dir, "overlapped.safetensors");
        // 4 KiB buckets: the output layer's, the RNN's and the embeddings' gradients land in separate buckets, so the
        // output bucket really starts before the RNN backward.
        string[] common = ["--max-steps", "5", "--distributed", "--bucket-mb", "0.004"];
        Succeeded(MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, blocking, layers: 2, extra: common), JobTimeout), "blocking");
        var o = MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, overlapped, layers: 2, extra: [.. common, "--overlap-allreduce"]), JobTimeout);
        Succeeded(o, "overlapped");
        Assert.Contains("all-reduce overlapped with backward", o.Output);
        // Same buckets, same MPI sum (a + b = b + a exactly for 2 ranks), same division: bit for bit.
        Assert.Equal(0.0, MaxDifference(Weights(blocking), Weights(overlapped)));
    }

    [Fact]
    public void Broadcast_makes_differently_initialised_ranks_agree_and_collectives_reduce()
    {
        MpiJob.RequireMpirun();
        var o = MpiJob.Mpi(2, MpiJob.TestHost, [], JobTimeout);
        Succeeded(o, "test host");
        // Lines "R<rank> key=value" (a terminal-mode escape sequence may precede a rank's first line).
        var facts = System.Text.RegularExpressions.Regex.Matches(o.Output, @"(R\d+ [a-z]+)=([^\r\n]*)")
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        string F(int rank, string key) => facts.TryGetValue($"R{rank} {key}", out var v) ? v : throw new Xunit.Sdk.XunitException($"no 'R{rank} {key}' in:\n{o.Output}");
        Assert.Equal("2", F(0, "size"));
        Assert.Equal("2", F(1, "size"));
        Assert.Equal(["0", "1"], new[] { F(0, "local"), F(1, "local") });
        // Σ over ranks r = 0, 1 of (r+1)(i+1) = 3(i+1); the average of (r+1)(i+1) = 1.5(i+1), exact in float.
        foreach (int r in new[] { 0, 1 })
        {
            Assert.Equal("3,6,9,12,15", F(r, "sum"));
            Assert.Equal("1.5,3,4.5,6,7.5", F(r, "avg"));
        }
        Assert.NotEqual(F(0, "before"), F(1, "before")); // the ranks really started different
        Assert.Equal(F(0, "before"), F(0, "after"));
        Assert.Equal(F(0, "before"), F(1, "after"));     // rank 1 now holds rank 0's parameters, bit for bit
        // MPI_ERRORS_RETURN: a bad root is a status, thrown with MPI's own text (MPI_ERR_ROOT is 8 in Open MPI).
        Assert.EndsWith("MPI_Bcast(&one, 1, h.Double, comm.WorldSize + 3, h.CommWorld) failed: MPI error 8: MPI_ERR_ROOT: invalid root", F(0, "error"));
    }

    [Fact]
    public void A_throwing_rank_ends_the_job_with_its_rank_named()
    {
        MpiJob.RequireMpirun();
        string train = MpiJob.WriteTrainingData(_dir, 40, 11);
        var o = MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, Path.Combine(_dir, "m.safetensors"), extra: ["--max-steps", "7", "--distributed"]),
            JobTimeout, new Dictionary<string, string> { ["CUDNNRNN_FAULT_INJECT"] = "throw@1:2" });
        Assert.False(o.TimedOut, $"the job hung:\n{o.Output}");
        Assert.NotEqual(0, o.ExitCode);
        Assert.True(o.Elapsed < TimeSpan.FromSeconds(60), $"took {o.Elapsed}");
        Assert.Contains("error: rank 1 of 2 failed: InvalidOperationException: fault injection: rank 1 throws before step 2", o.Output);
    }

    [Fact]
    public void A_killed_rank_ends_the_job_the_checkpoint_survives_and_resume_equals_the_uninterrupted_run()
    {
        MpiJob.RequireMpirun();
        string train = MpiJob.WriteTrainingData(_dir, 40, 11);
        string full = Path.Combine(_dir, "full.safetensors"), cut = Path.Combine(_dir, "cut.safetensors");
        Succeeded(MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, full, extra: ["--max-steps", "7", "--distributed"]), JobTimeout), "uninterrupted");

        // Rank 1 is SIGKILLed before step 5; the checkpoint of step 3 was written before.
        var killed = MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, cut, extra: ["--max-steps", "7", "--distributed", "--checkpoint-every", "3"]),
            JobTimeout, new Dictionary<string, string> { ["CUDNNRNN_FAULT_INJECT"] = "kill@1:5" });
        Assert.False(killed.TimedOut, $"the job hung:\n{killed.Output}");
        Assert.NotEqual(0, killed.ExitCode);
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(60), $"took {killed.Elapsed}");
        Assert.Contains("rank 1", killed.Output);
        Assert.Contains("signal 9", killed.Output); // mpirun: "process rank 1 with PID … exited on signal 9 (Killed)"
        var meta = SafeTensors.Read(cut + ".ckpt").Metadata;      // intact: parses, with every tensor's bytes
        Assert.Equal("3", meta["step"]);

        var resumed = MpiJob.Mpi(2, MpiJob.Cli, TrainArgs(train, cut, extra: ["--max-steps", "7", "--distributed", "--checkpoint-every", "3", "--resume"]), JobTimeout);
        Succeeded(resumed, "resume");
        Assert.Contains("resuming from", resumed.Output);
        // Bitwise: the same ranks sum in the same order, and every random draw is keyed by (seed, epoch, step, sentence).
        Assert.Equal(0.0, MaxDifference(Weights(full), Weights(cut)));
    }
}
