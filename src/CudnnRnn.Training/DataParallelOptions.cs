namespace CudnnRnn.Training;

/// <summary>Settings of a data-parallel, checkpointed run of <see cref="DataParallelTaggerTrainer{T}"/>.</summary>
public sealed record DataParallelOptions
{
    /// <summary>The ranks (one process: <see cref="SingleProcessCommunicator"/>).</summary>
    public ICollectiveCommunicator Communicator { get; init; } = SingleProcessCommunicator.Instance;
    /// <summary>Stop after this many optimizer steps in total (counting steps before a resume); 0: no limit.</summary>
    public long MaxSteps { get; init; }
    /// <summary>Write a checkpoint every this many optimizer steps (rank 0); 0: never.</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>Checkpoint file (needed with <see cref="CheckpointEvery"/> or <see cref="Resume"/>).</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>Continue from <see cref="CheckpointPath"/> (rank 0 reads it and broadcasts its contents).</summary>
    public bool Resume { get; init; }
    /// <summary>Gradient bucket size in bytes (PyTorch DDP's 25 MiB by default).</summary>
    public long BucketBytes { get; init; } = GradientSynchronizer<float>.DefaultBucketBytes;
    /// <summary>
    /// Start each bucket's all-reduce as soon as its gradients are final (one worker thread per rank), overlapping it with
    /// the rest of backward, instead of reducing every bucket after backward. Same buckets, same reduction. Off by
    /// default: on a 2-core machine it did not pay (README, "Data-parallel training").
    /// </summary>
    public bool OverlapAllReduce { get; init; }
    /// <summary>
    /// Device collectives (NCCL on the cuda engine) for gradients that live in engine memory; host gradients always use
    /// <see cref="Communicator"/>. Null: everything through <see cref="Communicator"/>.
    /// </summary>
    public IDeviceCollectiveCommunicator? DeviceCommunicator { get; init; }
    /// <summary>Called with the step number before each optimizer step (fault-injection tests use it).</summary>
    public Action<long>? BeforeStep { get; init; }
}

/// <summary>Timing of a data-parallel run.</summary>
/// <param name="Steps">Optimizer steps run in this process (after a resume: since it).</param>
/// <param name="Tokens">Training tokens of those steps (the global batch's, all ranks together).</param>
/// <param name="StepTime">Wall time inside the steps (forward, backward, all-reduce, optimizer).</param>
/// <param name="AllReduceTime">Of which: the gradient all-reduce.</param>
/// <param name="WorldSize">Ranks.</param>
public sealed record DataParallelStats(long Steps, long Tokens, TimeSpan StepTime, TimeSpan AllReduceTime, int WorldSize)
{
    /// <summary>Global training tokens per second of step time.</summary>
    public double TokensPerSecond => StepTime > TimeSpan.Zero ? Tokens / StepTime.TotalSeconds : 0;
    /// <summary>Mean all-reduce time per step.</summary>
    public TimeSpan AllReducePerStep => Steps > 0 ? AllReduceTime / Steps : TimeSpan.Zero;
    /// <summary>All-reduce share of the step time.</summary>
    public double AllReduceShare => StepTime > TimeSpan.Zero ? AllReduceTime / StepTime : 0;
}
