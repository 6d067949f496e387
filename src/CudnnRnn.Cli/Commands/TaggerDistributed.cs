using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CudnnRnn.Cli.Tagging;
using CudnnRnn.Cuda;
using CudnnRnn.Distributed.Native;
using CudnnRnn.Distributed;
using CudnnRnn.Training;

namespace CudnnRnn.Cli.Commands;

/// <summary>
/// <c>tagger train</c>'s data-parallel, checkpoint and precision options (issue 15) and their dispatch. The flow itself
/// is <see cref="DataParallelTaggerRun"/> in the training library; this file only parses, picks the engine's device
/// by local rank, and turns a failure on any rank into <c>MPI_Abort</c> so the whole job ends with the rank named.
/// </summary>
internal sealed class TaggerDistributed
{
    /// <summary>Environment variable for fault-injection tests: "throw@RANK:STEP" or "kill@RANK:STEP".</summary>
    public const string FaultVariable = "CUDNNRNN_FAULT_INJECT";

    private readonly Option<bool> _distributed = new("--distributed") { Description = "Data-parallel across the ranks of an MPI job (launch with mpirun -np N or srun); --batch-size is the global batch." };
    private readonly Option<int> _checkpointEvery = new("--checkpoint-every") { Description = "Write OUT.ckpt every N optimizer steps (atomically; rank 0)." };
    private readonly Option<bool> _resume = new("--resume") { Description = "Continue from OUT.ckpt (same settings; any number of ranks)." };
    private readonly Option<long> _maxSteps = new("--max-steps") { Description = "Stop after N optimizer steps in total (counting steps before a resume)." };
    private readonly Option<bool> _overlap = new("--overlap-allreduce") { Description = "Start each gradient bucket's all-reduce while backward still runs (DDP overlap; needs --threads 1 and several buckets, see --bucket-mb)." };
    private readonly Option<double> _bucketMb = new("--bucket-mb") { Description = "Gradient bucket size in MiB (PyTorch DDP's 25 by default).", DefaultValueFactory = _ => 25 };
    private readonly Option<string> _dtype = new("--dtype") { Description = "Precision of the parameters and the computation: float32 or float64.", DefaultValueFactory = _ => "float32" };

    /// <summary>Adds the options to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { _distributed, _checkpointEvery, _resume, _maxSteps, _overlap, _bucketMb, _dtype }) cmd.Options.Add(o);
    }

    /// <summary>True when any of these options asks for the data-parallel flow.</summary>
    public bool Requested(ParseResult r) => r.GetValue(_distributed) || r.GetValue(_checkpointEvery) != 0 || r.GetValue(_resume)
        || r.GetValue(_maxSteps) != 0 || r.GetValue(_dtype) != "float32";

    /// <summary>Runs the data-parallel flow.</summary>
    public int Train(ParseResult r, string trainPath, string? devPath, string modelPath, TagColumn column, TaggerHyperParameters hyper,
        TrainingOptions options, EngineChoice engineChoice)
    {
        string dtype = r.GetValue(_dtype)!.ToLowerInvariant();
        if (dtype is not ("float32" or "float64")) throw new UsageException($"--dtype must be float32 or float64, not '{dtype}'.");
        if (dtype == "float64" && options.Precision != Precision.Fp32)
            throw new UsageException($"--precision {options.Precision.Word()} keeps float32 master weights; it cannot be combined with --dtype float64.");
        int every = r.GetValue(_checkpointEvery);
        long maxSteps = r.GetValue(_maxSteps);
        if (every < 0) throw new UsageException("--checkpoint-every must not be negative.");
        if (maxSteps < 0) throw new UsageException("--max-steps must not be negative.");
        double bucketMb = r.GetValue(_bucketMb);
        if (!(bucketMb > 0 && bucketMb <= 1 << 20)) throw new UsageException($"--bucket-mb must be in (0, {1 << 20}], not {bucketMb}.");
        bool resume = r.GetValue(_resume);
        string ckpt = modelPath + ".ckpt";
        if (resume && !File.Exists(ckpt)) throw new UsageException($"--resume: no checkpoint at {ckpt}.");
        MpiCommunicator? mpi = r.GetValue(_distributed) ? MpiCommunicator.Initialize() : null;
        ICollectiveCommunicator comm = mpi ?? (ICollectiveCommunicator)SingleProcessCommunicator.Instance;
        try
        {
            // Each rank drives its local GPU (local rank) unless --device says otherwise.
            var kind = engineChoice.Kind;
            string? dev = kind == EngineKind.Cuda && engineChoice.Device is null && mpi is not null
                ? comm.LocalRank.ToString(CultureInfo.InvariantCulture) : engineChoice.Device;
            int threads = options.Threads > 0 ? options.Threads : kind == EngineKind.Cpu ? Math.Max(1, Environment.ProcessorCount / comm.WorldSize) : 1;
            using var engine = Engines.Create(kind, dev, kind == EngineKind.Cpu ? threads : 0);
            using var nccl = mpi is not null ? CreateNccl(mpi, engine) : null;
            var train = ConlluReader.ReadFile(trainPath).Select(s => s.ToTagged(column)).ToList();
            var devSet = devPath is null || comm.Rank != 0 ? null : ConlluReader.ReadFile(devPath).Select(s => s.ToTagged(column)).ToList();
            var parallel = new DataParallelOptions
            {
                Communicator = comm, MaxSteps = maxSteps, CheckpointEvery = every, CheckpointPath = ckpt, Resume = resume,
                BeforeStep = FaultInjection(comm.Rank),
                DeviceCommunicator = nccl, OverlapAllReduce = r.GetValue(_overlap), BucketBytes = Math.Max(1, (long)(bucketMb * (1 << 20))),
            };
            var o = options with { Threads = threads };
            var result = dtype == "float64"
                ? DataParallelTaggerRun.Train<double>(engine, train, devSet, modelPath, column, hyper, o, parallel, Console.Out)
                : DataParallelTaggerRun.Train<float>(engine, train, devSet, modelPath, column, hyper, o, parallel, Console.Out);
            if (comm.Rank == 0)
            {
                if (result.History.Count > 0 && devSet is not null)
                    TrainingPlot.Save(modelPath + ".png", $"BiLSTM tagger ({column.DisplayName()}): {Path.GetFileName(trainPath)}",
                        $"dev {column.DisplayName()} accuracy", new TrainingPlot.Series($"dev {column.DisplayName()} accuracy", result.History));
                Console.WriteLine($"model written to {Path.GetFullPath(modelPath)}");
            }
            comm.Barrier();
            mpi?.Dispose();
            return 0;
        }
        catch (Exception e) when (mpi is not null && mpi.WorldSize > 1)
        {
            // Never leave the other ranks waiting in a collective: end the whole job, naming this rank.
            mpi.Abort(1, $"error: rank {mpi.Rank} of {mpi.WorldSize} failed: {e.GetType().Name}: {e.Message}");
            throw; // not reached
        }
    }

    /// <summary>
    /// On the cuda engine, the NCCL communicator of all ranks (unique id broadcast over MPI, each rank on its engine's GPU,
    /// which is its local rank unless --device says otherwise) for device-resident gradients; null on other engines or
    /// when any rank lacks libnccl.so.2 (then every gradient goes through MPI, and the run says so). The ranks first
    /// agree over MPI, since NCCL's initialisation is collective and one rank without NCCL must not leave the others waiting.
    /// </summary>
    internal static NcclCommunicator? CreateNccl(MpiCommunicator mpi, IRnnEngine engine)
    {
        if (engine is not CudaEngine cuda) return null;
        bool here = DistributedLibraries.TryLoadNccl(out var why);
        Span<double> ok = [here ? 1 : 0];
        mpi.AllReduce(ok, ReduceOperation.Sum);
        if (ok[0] != mpi.WorldSize)
        {
            if (mpi.Rank == 0) Console.WriteLine($"note: NCCL is missing on {mpi.WorldSize - (int)ok[0]} rank(s); device gradients go through MPI via host copies" +
                (here ? "" : $" ({why!.Message.Split('\n')[0]})"));
            return null;
        }
        var nccl = NcclCommunicator.Create(mpi, cuda.Device);
        if (mpi.Rank == 0) Console.WriteLine($"NCCL {NcclCommunicator.LibraryVersion} communicator: {mpi.WorldSize} rank(s), one GPU each (rank 0 on device {cuda.Device}); device-resident gradients use it, host ones MPI");
        return nccl;
    }

    /// <summary>The fault hook of <see cref="FaultVariable"/> for this rank, or null.</summary>
    private static Action<long>? FaultInjection(int rank)
    {
        string? spec = Environment.GetEnvironmentVariable(FaultVariable);
        if (string.IsNullOrEmpty(spec)) return null;
        var parts = spec.Split('@', ':');
        if (parts.Length != 3 || parts[0] is not ("throw" or "kill") || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int r) ||
            !long.TryParse(parts[2], CultureInfo.InvariantCulture, out long step))
            throw new UsageException($"{FaultVariable}='{spec}': expected throw@RANK:STEP or kill@RANK:STEP.");
        if (r != rank) return null;
        return s =>
        {
            if (s != step) return;
            if (parts[0] == "kill")
            {
                Console.Error.WriteLine($"fault injection: rank {rank} kills itself (SIGKILL) before step {s}");
                Console.Error.Flush();
                Process.GetCurrentProcess().Kill();
            }
            throw new InvalidOperationException($"fault injection: rank {rank} throws before step {s}");
        };
    }
}
