using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>
/// Issue 16 item 6: a plan used from two threads at once refuses the second call with InvalidOperationException; the
/// GEMM pool survives a failing work item and hands the failure to the caller after every worker has finished.
/// Deterministic: threads meet on events, never on sleeps.
/// </summary>
public sealed class ConcurrencyTests
{
    private static readonly RnnDescriptor Rnn = new(RnnMode.Gru, 2, 3, dataType: RnnDataType.Float32);
    private static readonly RnnDataDescriptor XDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 2, 2, 2);

    [Fact]
    public void Plan_SecondCallWhileOneRuns_IsInvalidOperation()
    {
        using var cpu = TestCpu.Engine();
        using var entered = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        using var plan = new NullPlan(cpu, Rnn, XDesc) { Entered = entered, Gate = gate };
        using var x = cpu.Allocate<float>(XDesc.ElementCount);
        using var y = cpu.Allocate<float>(plan.YDesc.ElementCount);
        using var w = cpu.Allocate<float>(plan.WeightLayout.TotalElements);
        using var reserve = plan.CreateReserve();

        var first = new Thread(() => plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, reserve));
        first.Start();
        Assert.True(entered.Wait(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken), "the first call never reached the engine");
        // The first call is inside ForwardCore now, and stays there until the gate opens.
        var ex = Assert.Throws<InvalidOperationException>(() => plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null));
        Assert.Contains("another thread", ex.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => plan.BackwardData(y, y, x, null, null, null, null, null, null, w, reserve));
        Assert.Throws<InvalidOperationException>(() => plan.BackwardWeights(WeightGradMode.Add, x, null, y, w, reserve));
        gate.Set();
        first.Join();
        Assert.Equal(1, plan.Calls);
        // Released: the next call runs.
        plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null);
        Assert.Equal(2, plan.Calls);
    }

    [Fact]
    public void Plan_CallThatFailsValidation_ReleasesThePlan()
    {
        using var cpu = TestCpu.Engine();
        using var plan = new NullPlan(cpu, Rnn, XDesc);
        using var x = cpu.Allocate<float>(XDesc.ElementCount);
        using var y = cpu.Allocate<float>(plan.YDesc.ElementCount);
        using var w = cpu.Allocate<float>(plan.WeightLayout.TotalElements);
        Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, x, x, null, null, null, null, w, null));
        Assert.Throws<ArgumentNullException>(() => plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, null));
        plan.Forward(RnnForwardMode.Inference, x, y, null, null, null, null, w, null);
        Assert.Equal(1, plan.Calls);
    }

    /// <summary>Two tiles: a tile on the caller's thread waits until a worker's tile has thrown; a worker's tile throws.</summary>
    private sealed class FailingJob(int callerThread) : TileJob
    {
        public readonly ManualResetEventSlim WorkerThrew = new();
        public int CallerTiles, WorkerTiles;

        protected override void RunTile(int tile)
        {
            if (Environment.CurrentManagedThreadId == callerThread)
            {
                Interlocked.Increment(ref CallerTiles);
                if (!WorkerThrew.Wait(TimeSpan.FromMinutes(2))) throw new TimeoutException("no pool worker ran a tile");
                return;
            }
            Interlocked.Increment(ref WorkerTiles);
            WorkerThrew.Set();
            throw new InvalidOperationException("injected failure in a pool worker");
        }
    }

    [Fact]
    public void GemmPool_WorkerException_ReachesTheCallerAfterEveryTileFinished()
    {
        if (Environment.ProcessorCount < 2)
            Assert.Skip("The GEMM pool has no worker threads on a 1-processor machine (ProcessorCount - 1 = 0).");
        var job = new FailingJob(Environment.CurrentManagedThreadId);
        // The pool is shared with other tests: retry while another caller holds it (TryRun returns false, nothing run).
        bool ran = false;
        var ex = Record.Exception(() =>
        {
            for (int attempt = 0; attempt < 1_000_000 && !ran; attempt++)
            {
                ran = GemmPool.TryRun(job, tiles: 2, threads: 2);
                if (!ran) Thread.Yield();
            }
        });
        var ioe = Assert.IsType<InvalidOperationException>(ex);
        Assert.Equal("injected failure in a pool worker", ioe.Message);
        Assert.Equal(1, job.WorkerTiles);
        // Which thread takes which tile is up to the scheduler: when the woken worker takes a tile and throws before the
        // caller starts, the failed job hands out no more tiles and the caller runs none. Either way exactly one tile
        // threw, on a worker, and the caller returned only after the job was done.
        Assert.InRange(job.CallerTiles, 0, 1);
        Assert.True(job.IsDone);
        // The pool still works: the worker survived and the next job runs every tile.
        var ok = new CountingJob();
        while (!GemmPool.TryRun(ok, tiles: 64, threads: 2)) Thread.Yield();
        Assert.Equal(64, ok.Count);
    }

    private sealed class CountingJob : TileJob
    {
        public int Count;
        protected override void RunTile(int tile) => Interlocked.Increment(ref Count);
    }
}
