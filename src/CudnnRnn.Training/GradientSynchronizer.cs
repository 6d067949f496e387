using System.Diagnostics;
using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// DDP-style synchronisation of a model's replicas over an <see cref="ICollectiveCommunicator"/>: the parameters are
/// broadcast from rank 0 at the start, and after each backward the gradients are all-reduced (averaged) in buckets of
/// about <see cref="DefaultBucketBytes"/>, filled in reverse parameter order as PyTorch's DistributedDataParallel does.
/// A parameter at least a bucket large (the RNN's flat weight-gradient space) is its own bucket and is reduced in place;
/// smaller ones are packed into a preallocated staging buffer, so a step allocates nothing.
/// With <c>overlap</c>, a bucket's all-reduce starts (non-blocking, <see cref="ICollectiveCommunicator.CreateAllReduce{T}"/>)
/// as soon as <see cref="GradientReady"/> has been called for all its parameters, as DDP's backward hooks do, and
/// <see cref="AllReduceGradients"/> starts the rest and waits; the buckets and the reduction are the same, so the result
/// is that of the blocking path (bitwise for 2 ranks).
/// </summary>
public sealed class GradientSynchronizer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>PyTorch DDP's default bucket cap: 25 MiB.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private readonly IReadOnlyList<Parameter<T>> _ps;
    private readonly ICollectiveCommunicator _comm;
    private readonly int[][] _buckets;
    private readonly T[][] _staging;
    private readonly Stopwatch _clock = new();
    private readonly IPendingAllReduce[]? _pending;
    private readonly bool[] _ready;
    private int _started;

    /// <summary>Plans the buckets; with <paramref name="overlap"/>, prepares one non-blocking all-reduce per bucket.</summary>
    public GradientSynchronizer(IReadOnlyList<Parameter<T>> parameters, ICollectiveCommunicator communicator, long bucketBytes = DefaultBucketBytes,
        bool overlap = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketBytes, 1);
        _ps = parameters;
        _comm = communicator;
        long cap = Math.Max(1, bucketBytes / System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        var buckets = new List<int[]>();
        var current = new List<int>();
        long filled = 0;
        for (int i = parameters.Count - 1; i >= 0; i--)
        {
            long n = parameters[i].Count;
            if (current.Count > 0 && filled + n > cap)
            {
                buckets.Add([.. current]);
                current.Clear();
                filled = 0;
            }
            current.Add(i);
            filled += n;
        }
        if (current.Count > 0) buckets.Add([.. current]);
        _buckets = [.. buckets];
        // A one-parameter bucket is reduced in place, except a parameter in device memory, staged through the host.
        _staging = _buckets.Select(b => InPlace(parameters, b) ? [] : new T[b.Sum(i => (long)parameters[i].Count)]).ToArray();
        _ready = new bool[parameters.Count];
        if (overlap && communicator.WorldSize > 1)
            _pending = _buckets.Select((b, k) => communicator.CreateAllReduce<T>(InPlace(parameters, b) ? parameters[b[0]].Grad : _staging[k], ReduceOperation.Average)).ToArray();
    }

    private static bool InPlace(IReadOnlyList<Parameter<T>> ps, int[] bucket) => bucket.Length == 1 && ps[bucket[0]].HasHostArrays;

    /// <summary>
    /// The gradient buffer of a one-parameter bucket that lives in memory of <see cref="DeviceCommunicator"/>'s GPU (the
    /// RNN's on the cuda engine): reduced in place by NCCL instead of through a host copy and MPI. Null otherwise.
    /// </summary>
    private RnnBuffer<T>? DeviceRouted(int[] bucket) =>
        bucket.Length == 1 && !_ps[bucket[0]].HasHostArrays && _ps[bucket[0]].GradientBuffer is { } g
            && CollectiveRouting.Select(g, DeviceCommunicator) == CollectiveRoute.Device ? g : null;

    /// <summary>True when buckets are reduced while backward runs (see <see cref="GradientReady"/>).</summary>
    public bool Overlaps => _pending is not null;

    /// <summary>
    /// Tells the synchronizer that parameter <paramref name="index"/>'s gradient is final for this step. With overlap,
    /// every bucket whose parameters are all final is started, in bucket order, and running ones are polled (MPI
    /// progresses them only inside calls); without overlap it does nothing.
    /// </summary>
    public void GradientReady(int index)
    {
        if (_pending is null) return;
        _clock.Start();
        try
        {
            _ready[index] = true;
            while (_started < _buckets.Length && AllReady(_buckets[_started])) StartBucket(_started++);
            for (int b = 0; b < _started; b++) _pending[b].Test();
        }
        finally { _clock.Stop(); }
    }

    private bool AllReady(int[] bucket)
    {
        foreach (int i in bucket) if (!_ready[i]) return false;
        return true;
    }

    /// <summary><see cref="GradientReady"/> as a delegate created once (for <see cref="TaggerWorker{T}.GradientReady"/>, no allocation per step).</summary>
    public Action<int> GradientReadyCallback => _callback ??= GradientReady;

    private Action<int>? _callback;

    private void StartBucket(int b)
    {
        var bucket = _buckets[b];
        if (DeviceRouted(bucket) is { } g)
        {
            DeviceCommunicator!.AllReduce(g, ReduceOperation.Average);
            return;
        }
        if (!InPlace(_ps, bucket)) Stage(b);
        _pending![b].Start();
    }

    private void FinishOverlapped()
    {
        while (_started < _buckets.Length) StartBucket(_started++);
        for (int b = 0; b < _buckets.Length; b++)
        {
            if (DeviceRouted(_buckets[b]) is not null) continue; // reduced by NCCL when it started
            _pending![b].Wait();
            if (!InPlace(_ps, _buckets[b])) Unstage(b);
        }
        Array.Clear(_ready);
        _started = 0;
    }

    /// <summary>The device communicator (NCCL) for <see cref="AllReduceDeviceGradients"/>, or null (everything through the host one).</summary>
    public IDeviceCollectiveCommunicator? DeviceCommunicator { get; init; }

    private T[] _hostCopy = [];

    /// <summary>
    /// Averages gradients that live in engine memory (<see cref="RnnBuffer{T}"/>): each goes to
    /// <see cref="DeviceCommunicator"/> when it accepts it (NCCL, in place on the GPU), otherwise through a host copy
    /// and the host communicator (MPI). Returns how many went each way. Every rank must pass the same list.
    /// </summary>
    public (int Device, int Host) AllReduceDeviceGradients(IReadOnlyList<RnnBuffer<T>> gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        int device = 0, host = 0;
        if (_comm.WorldSize == 1) return (0, 0);
        _clock.Start();
        try
        {
            foreach (var g in gradients)
            {
                if (CollectiveRouting.Select(g, DeviceCommunicator) == CollectiveRoute.Device)
                {
                    DeviceCommunicator!.AllReduce(g, ReduceOperation.Average);
                    device++;
                    continue;
                }
                int n = checked((int)g.Length);
                if (_hostCopy.Length < n) _hostCopy = new T[n];
                var span = _hostCopy.AsSpan(0, n);
                g.CopyTo(span);
                _comm.AllReduce(span, ReduceOperation.Average);
                g.CopyFrom(span);
                host++;
            }
        }
        finally { _clock.Stop(); }
        return (device, host);
    }

    /// <summary>Waits for running reductions and releases the pinned memory.</summary>
    public void Dispose()
    {
        if (_pending is null) return;
        foreach (var p in _pending) p.Dispose();
    }

    /// <summary>The buckets: parameter indices in the order they are reduced (reverse parameter order).</summary>
    public IReadOnlyList<IReadOnlyList<int>> Buckets => _buckets;

    /// <summary>Time spent in <see cref="AllReduceGradients"/> so far (all steps).</summary>
    public TimeSpan AllReduceTime => _clock.Elapsed;

    /// <summary>Number of <see cref="AllReduceGradients"/> calls so far.</summary>
    public long AllReduceCount { get; private set; }

    /// <summary>
    /// Copies rank 0's parameter values to every rank (call once before training). Parameters in device memory (RNN
    /// weights on a GPU engine) go through a host copy: the communicator works on host memory.
    /// </summary>
    public void BroadcastParameters()
    {
        foreach (var p in _ps)
        {
            if (p.HasHostArrays)
            {
                _comm.Broadcast<T>(p.Value, 0);
                p.MarkValueModified();
                continue;
            }
            var staged = p.ValueToArray();
            _comm.Broadcast<T>(staged, 0);
            p.CopyValueFrom(staged);
        }
    }

    /// <summary>Averages every parameter's gradient over the ranks, bucket by bucket.</summary>
    public void AllReduceGradients()
    {
        if (_comm.WorldSize == 1) { AllReduceCount++; return; } // nothing to average: skip the bucket copies
        _clock.Start();
        try
        {
            if (_pending is not null)
            {
                FinishOverlapped();
                AllReduceCount++;
                return;
            }
            for (int b = 0; b < _buckets.Length; b++)
            {
                var bucket = _buckets[b];
                if (InPlace(_ps, bucket))
                {
                    _comm.AllReduce<T>(_ps[bucket[0]].Grad, ReduceOperation.Average);
                    continue;
                }
                if (DeviceRouted(bucket) is { } g)
                {
                    DeviceCommunicator!.AllReduce(g, ReduceOperation.Average);
                    continue;
                }
                Stage(b);
                _comm.AllReduce<T>(_staging[b], ReduceOperation.Average);
                Unstage(b);
            }
            AllReduceCount++;
        }
        finally { _clock.Stop(); }
    }

    /// <summary>Packs bucket <paramref name="b"/>'s gradients into its staging buffer (device gradients through a host copy).</summary>
    private void Stage(int b)
    {
        var staging = _staging[b].AsSpan();
        int off = 0;
        foreach (int i in _buckets[b])
        {
            _ps[i].CopyGradientTo(staging.Slice(off, _ps[i].Count));
            off += _ps[i].Count;
        }
    }

    /// <summary>Writes the reduced staging buffer of bucket <paramref name="b"/> back to its gradients.</summary>
    private void Unstage(int b)
    {
        var staging = _staging[b].AsSpan();
        int off = 0;
        foreach (int i in _buckets[b])
        {
            _ps[i].CopyGradientFrom(staging.Slice(off, _ps[i].Count));
            off += _ps[i].Count;
        }
    }
}
