using CudnnRnn.Cpu;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>
/// The data-parallel trainer in one process: thread count does not change the result, the gradient buckets average what
/// the communicator returns, checkpoints resume bit for bit and refuse other settings.
/// </summary>
public sealed class DataParallelTrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cudnnrnn-ddp-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static readonly List<TaggedSentence> Data = SyntheticTask.Generate(60, 21);

    // Dropout, word dropout and char CNN on, so keyed randomness is exercised; 1 RNN layer (no engine-drawn dropout).
    private static readonly TaggerHyperParameters Hyper = SyntheticTask.HyperParameters(true, 12) with
    {
        CharDim = 8, CharFilters = 8, EmbeddingDropout = 0.2, Dropout = 0.3, WordDropout = 0.25,
    };

    private static TrainingOptions Options(int threads, int batch = 8) => SyntheticTask.TrainingOptions(epochs: 2, seed: 5, threads) with { BatchSize = batch };

    private double[][] Train(int threads, DataParallelOptions parallel, int batch = 8, ulong seed = 5)
    {
        using var engine = CpuEngine.Create(1);
        using var tagger = Tagger<double>.Create(engine, Hyper, Data, TagColumn.Upos, 9);
        new DataParallelTaggerTrainer<double>(tagger, Options(threads, batch) with { Seed = seed }, parallel).Train(Data, null);
        return tagger.Parameters.Select(p => p.Value.ToArray()).ToArray();
    }

    private static double MaxDifference(double[][] a, double[][] b) =>
        a.Zip(b).Max(p => p.First.Zip(p.Second).Max(x => Math.Abs(x.First - x.Second)));

    // Same bound as the MPI test (CudnnRnn.Distributed.Tests.MpiJobTests.Tolerance): float64, a few Adam steps, only the
    // order of the gradient sums differs; the estimate there gives ≲ 1e-11 per step.
    private const double Tolerance = 1e-9;

    [Fact]
    public void Two_threads_train_the_same_weights_as_one_and_another_batch_does_not()
    {
        var parallel = new DataParallelOptions { MaxSteps = 6 };
        var one = Train(1, parallel);
        var two = Train(2, parallel);
        double diff = MaxDifference(one, two);
        Assert.True(diff <= Tolerance, $"1 vs 2 threads: max |Δw| = {diff:E3}");
        double other = MaxDifference(one, Train(1, parallel, batch: 6));
        Assert.True(other > 1e3 * Tolerance, $"a different global batch only moved the weights by {other:E3}");
    }

    [Fact]
    public void Resume_from_a_checkpoint_ends_bit_for_bit_where_the_uninterrupted_run_ends()
    {
        string ckpt = Path.Combine(_dir, "run.ckpt");
        var full = Train(1, new DataParallelOptions { MaxSteps = 11 });        // 60 sentences / 8 = 8 batches: crosses an epoch
        Train(1, new DataParallelOptions { MaxSteps = 5, CheckpointEvery = 5, CheckpointPath = ckpt });
        Assert.True(File.Exists(ckpt));
        var resumed = Train(1, new DataParallelOptions { MaxSteps = 11, CheckpointPath = ckpt, Resume = true });
        Assert.Equal(0.0, MaxDifference(full, resumed));
        // Resuming with other threads is also allowed (the contract is about the global batch).
        var resumed2 = Train(2, new DataParallelOptions { MaxSteps = 11, CheckpointPath = ckpt, Resume = true });
        Assert.True(MaxDifference(full, resumed2) <= Tolerance);
        // The checker can fail: resuming from a checkpoint of another step gives other weights.
        Train(1, new DataParallelOptions { MaxSteps = 4, CheckpointEvery = 4, CheckpointPath = ckpt });
        var wrong = Train(1, new DataParallelOptions { MaxSteps = 12, CheckpointPath = ckpt, Resume = true });
        Assert.True(MaxDifference(full, wrong) > 1e3 * Tolerance);
    }

    [Fact]
    public void A_checkpoint_of_other_settings_or_a_truncated_one_is_refused()
    {
        string ckpt = Path.Combine(_dir, "run.ckpt");
        Train(1, new DataParallelOptions { MaxSteps = 2, CheckpointEvery = 2, CheckpointPath = ckpt });
        var e = Assert.Throws<ModelFormatException>(() => Train(1, new DataParallelOptions { MaxSteps = 4, CheckpointPath = ckpt, Resume = true }, seed: 6));
        Assert.Contains("seed=5", e.Message);
        Assert.Contains("seed=6", e.Message);
        var bytes = File.ReadAllBytes(ckpt);
        File.WriteAllBytes(ckpt, bytes[..(bytes.Length / 2)]);
        Assert.Throws<ModelFormatException>(() => Train(1, new DataParallelOptions { MaxSteps = 4, CheckpointPath = ckpt, Resume = true }));
    }

    /// <summary>A pretend second rank whose gradient is always three times ours: the average is twice ours.</summary>
    private sealed class TripleRank : ICollectiveCommunicator
    {
        public List<int> Lengths { get; } = new();
        public int Rank => 0;
        public int WorldSize => 2;
        public int LocalRank => 0;
        public void AllReduce<T>(Span<T> values, ReduceOperation operation) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            Assert.Equal(ReduceOperation.Average, operation);
            Lengths.Add(values.Length);
            for (int i = 0; i < values.Length; i++) values[i] = (values[i] + T.CreateChecked(3) * values[i]) / T.CreateChecked(2);
        }
        public void Broadcast<T>(Span<T> values, int root) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> { }
        public void Barrier() { }
        public void Abort(int errorCode, string message) => throw new InvalidOperationException(message);
    }

    [Fact]
    public void Buckets_run_in_reverse_parameter_order_and_average_every_gradient()
    {
        var ps = new[] { new Parameter<double>("a", 3), new Parameter<double>("b", 5), new Parameter<double>("rnn", 40), new Parameter<double>("c", 2), new Parameter<double>("d", 4) };
        var comm = new TripleRank();
        // A 10-value (80-byte) cap: d+c share a bucket, the RNN space is alone, b+a share one.
        var sync = new GradientSynchronizer<double>(ps, comm, bucketBytes: 80);
        Assert.Equal([[4, 3], [2], [1, 0]], sync.Buckets.Select(b => b.ToArray()).ToArray());
        for (int p = 0; p < ps.Length; p++)
            for (int i = 0; i < ps[p].Count; i++) ps[p].Grad[i] = 100 * p + i + 1;
        sync.AllReduceGradients();
        Assert.Equal([6, 40, 8], comm.Lengths);
        for (int p = 0; p < ps.Length; p++)
            for (int i = 0; i < ps[p].Count; i++) Assert.Equal(2.0 * (100 * p + i + 1), ps[p].Grad[i]);
    }

    /// <summary>A pretend NCCL: accepts the buffers of one engine and multiplies them by 10 (so the route is visible).</summary>
    private sealed class TenfoldDevice(IRnnEngine device) : IDeviceCollectiveCommunicator
    {
        public int Calls { get; private set; }
        public bool Accepts<T>(RnnBuffer<T> buffer) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => ReferenceEquals(buffer.Engine, device);
        public void AllReduce<T>(RnnBuffer<T> buffer, ReduceOperation operation) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            Calls++;
            var v = buffer.ToArray();
            for (int i = 0; i < v.Length; i++) v[i] *= T.CreateChecked(10);
            buffer.CopyFrom(v);
        }
    }

    [Fact]
    public void Device_gradients_go_to_the_device_communicator_when_it_accepts_them_and_through_host_mpi_otherwise()
    {
        using var gpu = CpuEngine.Create(1);   // stands for the cuda engine the device communicator serves
        using var other = CpuEngine.Create(1); // memory it does not accept (another engine or device)
        using var onDevice = gpu.Allocate<double>(3);
        using var elsewhere = other.Allocate<double>(3);
        onDevice.CopyFrom([1.0, 2, 3]);
        elsewhere.CopyFrom([1.0, 2, 3]);
        var device = new TenfoldDevice(gpu);
        var sync = new GradientSynchronizer<double>([new Parameter<double>("p", 1)], new TripleRank()) { DeviceCommunicator = device };
        Assert.Equal(CollectiveRoute.Device, CollectiveRouting.Select(onDevice, device));
        Assert.Equal(CollectiveRoute.Host, CollectiveRouting.Select(elsewhere, device));
        Assert.Equal(CollectiveRoute.Host, CollectiveRouting.Select(onDevice, null));
        Assert.Equal((1, 1), sync.AllReduceDeviceGradients([onDevice, elsewhere]));
        Assert.Equal([10.0, 20, 30], onDevice.ToArray());   // NCCL's (pretend) result
        Assert.Equal([2.0, 4, 6], elsewhere.ToArray());     // MPI's (TripleRank: twice ours), via a host copy
        // Without a device communicator everything goes through MPI.
        var hostOnly = new GradientSynchronizer<double>([new Parameter<double>("p", 1)], new TripleRank());
        Assert.Equal((0, 2), hostOnly.AllReduceDeviceGradients([onDevice, elsewhere]));
        Assert.Equal([20.0, 40, 60], onDevice.ToArray());
        Assert.Equal(1, device.Calls);
    }

    [Fact]
    public void Overlapped_buckets_start_once_their_gradients_are_ready_in_bucket_order_and_give_the_blocking_result()
    {
        var ps = new[] { new Parameter<double>("a", 3), new Parameter<double>("rnn", 40), new Parameter<double>("c", 2), new Parameter<double>("d", 4) };
        var comm = new TripleRank();
        using var sync = new GradientSynchronizer<double>(ps, comm, bucketBytes: 80, overlap: true);
        Assert.True(sync.Overlaps);
        Assert.Equal([[3, 2], [1], [0]], sync.Buckets.Select(b => b.ToArray()).ToArray());
        for (int p = 0; p < ps.Length; p++)
            for (int i = 0; i < ps[p].Count; i++) ps[p].Grad[i] = 100 * p + i + 1;
        sync.GradientReady(3);
        Assert.Empty(comm.Lengths);                 // bucket [d, c] waits for c
        sync.GradientReady(1);
        Assert.Empty(comm.Lengths);                 // the RNN's bucket comes after [d, c]: order is kept
        sync.GradientReady(2);
        Assert.Equal([6, 40], comm.Lengths);        // both started, in bucket order
        sync.AllReduceGradients();                  // starts [a], waits, copies back
        Assert.Equal([6, 40, 3], comm.Lengths);
        for (int p = 0; p < ps.Length; p++)
            for (int i = 0; i < ps[p].Count; i++) Assert.Equal(2.0 * (100 * p + i + 1), ps[p].Grad[i]);
        // The next step starts from scratch (nothing marked ready yet).
        sync.GradientReady(1);
        Assert.Equal(3, comm.Lengths.Count);
    }
}
