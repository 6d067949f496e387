using System.Diagnostics;
using System.Numerics;
using System.Runtime.ExceptionServices;

namespace CudnnRnn.Cpu;

/// <summary>
/// A set of C tiles handed out one at a time. The claim counter carries the call's generation in its high half, so a
/// worker that wakes late (after its call finished) can never claim a tile of a later call by mistake. A tile that
/// throws does not escape its thread (on a pool worker that would end the process): the first exception is kept, the
/// remaining tiles are counted done without running, and the caller rethrows it once every tile has finished.
/// </summary>
internal abstract class TileJob
{
    private long _state;   // (generation << 32) | next tile
    private int _count;
    private int _done;
    private ExceptionDispatchInfo? _error;

    protected abstract void RunTile(int tile);

    public void Reset(int generation, int count)
    {
        _count = count;
        _done = 0;
        _error = null;
        Volatile.Write(ref _state, (long)generation << 32);
    }

    /// <summary>Runs tiles of <paramref name="generation"/> until none are left.</summary>
    public void Work(int generation)
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            if ((int)(s >> 32) != generation) return;
            int idx = (int)s;
            if (idx >= Volatile.Read(ref _count)) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            try
            {
                if (Volatile.Read(ref _error) is null) RunTile(idx);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
            }
            finally
            {
                Interlocked.Increment(ref _done); // counted even when it failed, so the caller's wait always ends
            }
        }
    }

    public bool IsDone => Volatile.Read(ref _done) == Volatile.Read(ref _count);

    /// <summary>Rethrows the first tile exception (original type and stack); call only after <see cref="IsDone"/>.</summary>
    public void ThrowIfFailed() => Volatile.Read(ref _error)?.Throw();
}

/// <summary>The tile job of one element type; one instance, used by whichever caller holds the pool.</summary>
internal sealed unsafe class GemmJob<T> : TileJob where T : unmanaged, IFloatingPointIeee754<T>
{
    public static readonly GemmJob<T> Shared = new();
    public GemmArgs<T> Args;
    protected override void RunTile(int tile) => GemmDriver<T>.Tile(in Args, tile);
}

/// <summary>
/// A small persistent pool (ProcessorCount − 1 background threads) that runs the tiles of one GEMM at a time with the
/// calling thread. Workers spin briefly after a call (the RNN issues GEMMs back to back, microseconds apart) and then
/// sleep on a semaphore. A caller that finds the pool busy runs its GEMM on its own thread (same bits).
/// </summary>
internal static class GemmPool
{
    private sealed class Worker
    {
        public readonly SemaphoreSlim Wake = new(0);
        public int Sleeping;
    }

    private static readonly object s_gate = new();
    /// <summary>True on a thread while it runs tiles of a pool job (callers and workers alike).</summary>
    [ThreadStatic] private static bool t_inJob;
    private static Worker[]? s_workers;
    private static TileJob? s_job;
    private static int s_generation;
    private static int s_wanted;
    /// <summary>How long an idle worker polls for the next call before it sleeps (~100 µs).</summary>
    private static readonly long s_spinTicks = Stopwatch.Frequency / 10_000;

    public static bool TryRun<T>(GemmJob<T> job, ref GemmArgs<T> args, int tiles, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t_inJob || !Monitor.TryEnter(s_gate)) return false;
        try
        {
            job.Args = args; // only while holding the gate: the job object is shared by every caller
            return RunLocked(job, tiles, threads);
        }
        finally
        {
            Monitor.Exit(s_gate);
        }
    }

    /// <summary>
    /// Runs <paramref name="tiles"/> tiles of <paramref name="job"/> on the calling thread and up to threads − 1 pool
    /// workers; returns false (nothing run) when the pool is busy, when called from inside a pool job (a nested job, such
    /// as a GEMM inside a per-direction job, runs on its own thread instead), or when one thread is all that is wanted.
    /// </summary>
    public static bool TryRun(TileJob job, int tiles, int threads)
    {
        if (t_inJob || !Monitor.TryEnter(s_gate)) return false;
        try { return RunLocked(job, tiles, threads); }
        finally { Monitor.Exit(s_gate); }
    }

    private static bool RunLocked(TileJob job, int tiles, int threads)
    {
        var workers = s_workers ??= StartWorkers();
        int wanted = Math.Min(Math.Min(threads - 1, workers.Length), tiles - 1);
        if (wanted <= 0) return false;
        int gen = s_generation + 1;
        job.Reset(gen, tiles);
        s_job = job;
        Volatile.Write(ref s_wanted, wanted);
        Interlocked.Exchange(ref s_generation, gen);
        for (int i = 0; i < wanted; i++)
            if (Interlocked.Exchange(ref workers[i].Sleeping, 0) == 1) workers[i].Wake.Release();
        t_inJob = true;
        try { job.Work(gen); } // never throws: tile exceptions are kept in the job
        finally { t_inJob = false; }
        // Wait for every tile, on every worker, before returning: the callers' operands are pinned (fixed) only until we
        // return, and a worker may still be reading or writing them.
        var spin = new SpinWait();
        while (!job.IsDone) spin.SpinOnce(sleep1Threshold: -1);
        s_job = null;
        job.ThrowIfFailed();
        return true;
    }

    private static Worker[] StartWorkers()
    {
        var workers = new Worker[Math.Max(0, Environment.ProcessorCount - 1)];
        // The generation before the first job is published: a worker thread that only starts running after the caller
        // has bumped it must still see that job as new (reading s_generation on the worker thread raced with the bump,
        // and the first job then ran on the caller alone).
        int start = Volatile.Read(ref s_generation);
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = new Worker();
            int index = i;
            var t = new Thread(() => Loop(index, workers[index], start)) { IsBackground = true, Name = $"CudnnRnn.Gemm.{i + 1}" };
            t.Start();
        }
        return workers;
    }

    private static void Loop(int index, Worker self, int seen)
    {
        while (true)
        {
            int g = Volatile.Read(ref s_generation);
            if (g != seen)
            {
                seen = g;
                if (index < Volatile.Read(ref s_wanted))
                {
                    t_inJob = true;
                    try { s_job?.Work(g); }
                    finally { t_inJob = false; }
                }
                continue;
            }
            long until = Stopwatch.GetTimestamp() + s_spinTicks;
            bool woke = false;
            while (Stopwatch.GetTimestamp() < until)
            {
                if (Volatile.Read(ref s_generation) != seen) { woke = true; break; }
                Thread.SpinWait(20);
            }
            if (woke) continue;
            // Announce sleep, then re-check: a caller that bumped the generation after our check sees Sleeping = 1 and
            // releases us; if it bumped before, we either take the flag back or consume the release it already made.
            Interlocked.Exchange(ref self.Sleeping, 1);
            if (Volatile.Read(ref s_generation) != seen && Interlocked.Exchange(ref self.Sleeping, 0) == 1) continue;
            self.Wake.Wait();
        }
    }
}
