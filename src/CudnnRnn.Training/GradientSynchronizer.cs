using System.Diagnostics;
using System.Numerics;

namespace CudnnRnn.Training;

/// <summary>
/// DDP-style synchronisation of a model's replicas over an <see cref="ICollectiveCommunicator"/>: the parameters are
/// broadcast from rank 0 at the start, and after each backward the gradients are all-reduced (averaged) in buckets of
/// about <see cref="DefaultBucketBytes"/>, filled in reverse parameter order as PyTorch's DistributedDataParallel does.
/// A parameter at least a bucket large (the RNN's flat weight-gradient space) is its own bucket and is reduced in place;
/// smaller ones are packed into a preallocated staging buffer, so a step allocates nothing.
/// </summary>
public sealed class GradientSynchronizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>PyTorch DDP's default bucket cap: 25 MiB.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private readonly IReadOnlyList<Parameter<T>> _ps;
    private readonly ICollectiveCommunicator _comm;
    private readonly int[][] _buckets;
    private readonly T[][] _staging;
    private readonly Stopwatch _clock = new();

    /// <summary>Plans the buckets.</summary>
    public GradientSynchronizer(IReadOnlyList<Parameter<T>> parameters, ICollectiveCommunicator communicator, long bucketBytes = DefaultBucketBytes)
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
        _staging = _buckets.Select(b => b.Length == 1 && parameters[b[0]].HasHostArrays ? [] : new T[b.Sum(i => (long)parameters[i].Count)]).ToArray();
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
            for (int b = 0; b < _buckets.Length; b++)
            {
                var bucket = _buckets[b];
                if (bucket.Length == 1 && _ps[bucket[0]].HasHostArrays)
                {
                    _comm.AllReduce<T>(_ps[bucket[0]].Grad, ReduceOperation.Average);
                    continue;
                }
                var staging = _staging[b].AsSpan();
                int off = 0;
                foreach (int i in bucket)
                {
                    _ps[i].CopyGradientTo(staging.Slice(off, _ps[i].Count));
                    off += _ps[i].Count;
                }
                _comm.AllReduce(staging, ReduceOperation.Average);
                off = 0;
                foreach (int i in bucket)
                {
                    _ps[i].CopyGradientFrom(staging.Slice(off, _ps[i].Count));
                    off += _ps[i].Count;
                }
            }
            AllReduceCount++;
        }
        finally { _clock.Stop(); }
    }
}
