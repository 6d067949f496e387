using CudnnRnn.Cuda;
using CudnnRnn.Distributed.Native;
using CudnnRnn.Training;

namespace CudnnRnn.Distributed.Tests;

/// <summary>
/// NCCL on a GPU: a one-rank communicator, the device-buffer all-reduce and broadcast, abort. NCCL cannot hold two ranks
/// on one GPU, so multi-rank NCCL needs a multi-GPU machine. Skipped visibly without libnccl.so.2 or a GPU.
/// </summary>
public sealed class NcclTests
{
    private static CudaEngine RequireGpuAndNccl()
    {
        if (!DistributedLibraries.TryLoadNccl(out var e)) Assert.Skip($"NCCL is not installed (needs a GPU machine): {e!.Message.Split('\n')[0]}");
        if (!CudaEngine.TryCreate(out var engine, out string reason, 0)) Assert.Skip($"No usable GPU: {reason}");
        return engine!;
    }

    [Fact]
    public void One_rank_all_reduce_and_broadcast_on_a_device_buffer()
    {
        using var engine = RequireGpuAndNccl();
        Assert.True(NcclCommunicator.LibraryVersion >= new Version(2, 10), "ncclAvg needs NCCL 2.10+");
        using var nccl = NcclCommunicator.CreateSingle(engine.Device);
        using var buffer = (CudaBuffer<double>)engine.Allocate<double>(1000);
        var values = Enumerable.Range(0, 1000).Select(i => i * 0.5).ToArray();
        buffer.CopyFrom(values);
        nccl.AllReduce(buffer, ReduceOperation.Sum);      // one rank: the identity, exactly
        nccl.AllReduce(buffer, ReduceOperation.Average);
        nccl.Broadcast(buffer, 0);
        var back = new double[1000];
        buffer.CopyTo(back);
        Assert.Equal(values, back);
        Assert.Throws<ArgumentOutOfRangeException>(() => nccl.Broadcast(buffer, 1));
    }

    [Fact]
    public void A_healthy_communicator_has_no_async_error_and_an_aborted_one_refuses_work()
    {
        using var engine = RequireGpuAndNccl();
        var nccl = NcclCommunicator.CreateSingle(engine.Device);
        Assert.Equal(ncclResult_t.ncclSuccess, nccl.QueryAsyncError());
        nccl.Abort();
        Assert.Throws<ObjectDisposedException>(() => nccl.QueryAsyncError());
        nccl.Dispose();
        nccl.Dispose();
        using var buffer = (CudaBuffer<float>)engine.Allocate<float>(4);
        Assert.Throws<ObjectDisposedException>(() => nccl.AllReduce(buffer, ReduceOperation.Sum));
    }

    [Fact]
    public void The_communicator_accepts_buffers_of_its_gpu_and_routing_sends_host_memory_to_mpi()
    {
        using var engine = RequireGpuAndNccl();
        var nccl = NcclCommunicator.CreateSingle(engine.Device);
        using var device = (CudaBuffer<float>)engine.Allocate<float>(8);
        using var cpu = CudnnRnn.Cpu.CpuEngine.Create(1);
        using var host = cpu.Allocate<float>(8);
        Assert.True(nccl.Accepts(device));
        Assert.Equal(CollectiveRoute.Device, CollectiveRouting.Select(device, nccl));
        Assert.False(nccl.Accepts(host));
        Assert.Equal(CollectiveRoute.Host, CollectiveRouting.Select(host, nccl));
        Assert.Throws<ArgumentException>(() => nccl.AllReduce((RnnBuffer<float>)host, ReduceOperation.Sum));
        nccl.Abort();
        Assert.False(nccl.Accepts(device)); // an aborted communicator takes no more work: the gradient would go through MPI
        nccl.Dispose();
    }
}
