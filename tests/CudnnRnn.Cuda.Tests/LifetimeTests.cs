using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Issue 16 item 7 on the CUDA engine. The lease logic (a buffer or plan holds its engine's handle and stream through a
/// SafeHandle that the runtime finalizes when the owner is abandoned) is tested here without a GPU on stand-in handles;
/// the same on real cuDNN objects needs a GPU and skips visibly without one. The runtime-version rule is a pure function.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class LifetimeTests
{
    /// <summary>A stand-in for the cuDNN handle / stream: counts its (single) release.</summary>
    private sealed class CountingHandle : SafeHandle
    {
        public int Releases;
        public CountingHandle() : base(0, ownsHandle: true) => SetHandle(1);
        public override bool IsInvalid => handle == 0;
        protected override bool ReleaseHandle()
        {
            Interlocked.Increment(ref Releases);
            return true;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AbandonLease(SafeHandle a, SafeHandle b) => new(new SafeHandleLease(a, b));

    [Fact]
    public void AbandonedLease_IsFinalized_AndReleasesTheEngineHandles()
    {
        var cudnn = new CountingHandle();
        var stream = new CountingHandle();
        var weak = AbandonLease(cudnn, stream);
        cudnn.Dispose(); // the engine is disposed while an (abandoned) buffer still holds it
        stream.Dispose();
        Assert.Equal(0, cudnn.Releases + stream.Releases); // the lease keeps both alive
        for (int i = 0; i < 10 && (weak.IsAlive || cudnn.Releases == 0); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(weak.IsAlive);
        Assert.Equal(1, cudnn.Releases);
        Assert.Equal(1, stream.Releases);
    }

    [Fact]
    public void DisposedLease_ReleasesOnce_AndAClosedHandleCannotBeLeased()
    {
        var cudnn = new CountingHandle();
        var stream = new CountingHandle();
        var lease = new SafeHandleLease(cudnn, stream);
        lease.Dispose();
        lease.Dispose();
        Assert.Equal(0, cudnn.Releases); // the owner still holds its own reference
        cudnn.Dispose();
        Assert.Equal(1, cudnn.Releases);
        // Leasing a closed handle throws and gives back what it already took (the stream's count stays balanced).
        Assert.Throws<ObjectDisposedException>(() => new SafeHandleLease(stream, cudnn));
        stream.Dispose();
        Assert.Equal(1, stream.Releases);
    }

    [Theory]
    [InlineData(12040ul, 12040, true)]
    [InlineData(12020ul, 12080, true)]   // same major: CUDA's minor-version compatibility
    [InlineData(11080ul, 12040, false)]
    [InlineData(12040ul, 11080, false)]
    [InlineData(13000ul, 12090, false)]
    [InlineData(0ul, 12040, false)]
    [InlineData(12040ul, 0, false)]
    public void RuntimeVersionRule_MajorVersionsMustMatch(ulong cudnnBuiltFor, int loaded, bool ok)
    {
        string? why = CudaEngine.RuntimeMismatch(cudnnBuiltFor, loaded);
        Assert.Equal(ok, why is null);
        if (!ok && cudnnBuiltFor != 0 && loaded != 0)
        {
            Assert.Contains("cudnnGetCudartVersion", why, StringComparison.Ordinal);
            Assert.Contains("cudaRuntimeGetVersion", why, StringComparison.Ordinal);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AbandonBufferAndPlan(CudaEngine engine)
    {
        _ = engine.Allocate<float>(1024);
        _ = engine.CreatePlan<float>(new RnnDescriptor(RnnMode.Lstm, 8, 8, dataType: RnnDataType.Float32),
            RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 4, 2, 8));
    }

    [Fact]
    public void AbandonedCudaBufferAndPlan_ReleaseTheEngine()
    {
        using var probe = Gpu.RequireEngine();
        var engine = CudaEngine.Create(probe.Device);
        long handles = Interop.CudaHandleDiagnostics.Live(Interop.CudaHandleKind.CudnnHandle);
        AbandonBufferAndPlan(engine);
        engine.Dispose(); // the abandoned buffer and plan still hold the handle and the stream
        Assert.Equal(handles, Interop.CudaHandleDiagnostics.Live(Interop.CudaHandleKind.CudnnHandle));
        for (int i = 0; i < 10 && Interop.CudaHandleDiagnostics.Live(Interop.CudaHandleKind.CudnnHandle) == handles; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(handles - 1, Interop.CudaHandleDiagnostics.Live(Interop.CudaHandleKind.CudnnHandle));
    }
}
