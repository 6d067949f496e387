using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// A training step whose data is already in device memory: no host copy and no host or device synchronization once
/// the shape is warm (plans cached, context storage pooled, memory from the stream-ordered pool). Needs a GPU; skips
/// visibly otherwise.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class DeviceResidentTests
{
    [Fact]
    public void A_warm_device_resident_training_step_makes_no_synchronizing_call()
    {
        using var engine = Gpu.RequireEngine();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 16, 32, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 10, 4, 16, [10, 7, 9, 3]);
        using var layer = new RnnLayer<float>(engine, rnn, seed: 1);
        using var x = engine.Allocate<float>(xDesc.ElementCount);
        using var dy = engine.Allocate<float>(xDesc.ElementCount / 16 * 64);
        using var dx = engine.Allocate<float>(xDesc.ElementCount);

        void Step()
        {
            using var context = layer.Forward(xDesc, x);
            layer.Backward(context, dy, dx: dx);
        }

        Step(); // warm: plans, context storage, workspace, reserve
        engine.Synchronize();
        GpuQuiet.SettleFinalizers();   // the counter is process-wide: no earlier test's finalizer may free inside the window
        long before = CudaHandleDiagnostics.SynchronizingCalls;
        for (int i = 0; i < 5; i++) Step();
        long during = CudaHandleDiagnostics.SynchronizingCalls - before;
        engine.Synchronize();
        Assert.True(during == 0, $"{during} synchronizing calls in 5 warm device-resident training steps; expected none");
    }

    [Fact]
    public void A_warm_training_step_on_the_callers_stream_with_wrapped_caller_memory_makes_no_synchronizing_call()
    {
        using var reference = Gpu.RequireEngine();
        CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device));
        using var stream = SafeCudaStream.Create();
        using var engine = CudaEngine.CreateInCurrentContext(stream.DangerousGetHandle());
        var rnn = new RnnDescriptor(RnnMode.Gru, 16, 32, 2, RnnDirection.Unidirectional, dataType: RnnDataType.Float32);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 10, 4, 16, [10, 9, 7, 3]);
        using var layer = new RnnLayer<float>(engine, rnn, seed: 1);
        long yElements = xDesc.WithVectorSize(rnn.OutputSize).ElementCount;
        // The caller's memory (cudaMalloc, as another library would hand it over), viewed without a copy.
        using var xMem = SafeCudaDeviceMemory.Allocate((nuint)xDesc.ElementCount * sizeof(float));
        using var dyMem = SafeCudaDeviceMemory.Allocate((nuint)yElements * sizeof(float));
        using var dxMem = SafeCudaDeviceMemory.Allocate((nuint)xDesc.ElementCount * sizeof(float));
        using var x = engine.Wrap<float>(xMem.DangerousGetHandle(), xDesc.ElementCount);
        using var dy = engine.Wrap<float>(dyMem.DangerousGetHandle(), yElements);
        using var dx = engine.Wrap<float>(dxMem.DangerousGetHandle(), xDesc.ElementCount);
        x.Clear();
        dy.Clear();

        void Step()
        {
            using var context = layer.Forward(xDesc, x);
            layer.Backward(context, dy, dx: dx);
        }

        Step();
        engine.Synchronize();
        GpuQuiet.SettleFinalizers();   // the counter is process-wide: no earlier test's finalizer may free inside the window
        long before = CudaHandleDiagnostics.SynchronizingCalls;
        for (int i = 0; i < 5; i++) Step();
        long during = CudaHandleDiagnostics.SynchronizingCalls - before;
        CudaException.ThrowIfFailed(Cudart.cudaStreamSynchronize(stream));
        Assert.True(during == 0, $"{during} synchronizing calls in 5 warm steps on the caller's stream; expected none");
    }

    [Fact]
    public void The_stream_ordered_pool_reports_what_it_holds_and_plans_come_and_go_without_synchronizing_for_memory()
    {
        using var engine = Gpu.RequireEngine();
        var stats = engine.MemoryPool;
        if (!stats.StreamOrdered) Assert.Skip($"This device has no stream-ordered pool: {engine.MemoryPoolUnavailableReason}");
        Assert.Equal(CudaEngine.DefaultReleaseThreshold, stats.ReleaseThreshold);
        long used0 = stats.UsedBytes;
        var buffer = engine.Allocate<float>(1 << 20);
        engine.Synchronize();
        Assert.True(engine.MemoryPool.UsedBytes >= used0 + (4L << 20), $"used {engine.MemoryPool.UsedBytes} after a 4 MiB allocation from {used0}");
        GpuQuiet.SettleFinalizers();   // the counter is process-wide: no earlier test's finalizer may free inside the window
        long before = CudaHandleDiagnostics.SynchronizingCalls;
        buffer.Dispose(); // cudaFreeAsync: stream-ordered, not counted
        Assert.Equal(before, CudaHandleDiagnostics.SynchronizingCalls);
        engine.Synchronize();
        Assert.True(engine.MemoryPool.ReservedBytes >= 4L << 20, "the release threshold keeps freed memory in the pool");
        engine.TrimMemoryPool();
        engine.Synchronize();
        Assert.True(engine.MemoryPool.ReservedBytes <= engine.MemoryPool.UsedBytes + (2L << 20),
            $"after a trim the pool holds {engine.MemoryPool.ReservedBytes} bytes for {engine.MemoryPool.UsedBytes} in use");
    }
}
