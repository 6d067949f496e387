using CudnnRnn.OpenCL;
using Silk.NET.OpenCL;
using Xunit;

namespace CudnnRnn.OpenCL.Tests;

/// <summary>The README's OpenCL interop snippet ("Using CudnnRnn inside your GPU stack"), compiled and run on PoCL.</summary>
public sealed unsafe class ReadmeOpenClInteropTests
{
    [Fact]
    public void SilkNetSnippet_Runs()
    {
        SharedOpenCl.Require();   // skips visibly without OpenCL
        var rnn = new RnnDescriptor(RnnMode.Lstm, inputSize: 8, hiddenSize: 16, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, maxSeqLength: 10, batch: 4, vectorSize: 8);
        long syncs;
        float[] hy;
        // --- README: OpenCL (keep in sync with README.md) ---
        var cl = CL.GetApi();
        nint platform, device;
        int err;
        cl.GetPlatformIDs(1, &platform, null);
        cl.GetDeviceIDs(platform, DeviceType.All, 1, &device, null);
        nint* props = stackalloc nint[] { 0x1084 /* CL_CONTEXT_PLATFORM */, platform, 0 };
        nint ctx = cl.CreateContext(props, 1, &device, null, null, &err);         // your context and in-order queue
        nint queue = cl.CreateCommandQueue(ctx, device, CommandQueueProperties.None, &err);
        nint xMem = cl.CreateBuffer(ctx, MemFlags.ReadWrite, (nuint)(xDesc.ElementCount * sizeof(float)), null, &err);

        using (var engine = OpenClEngine.CreateOver(ctx, queue))                    // retains ctx and queue
        using (var lstm = new RnnLayer<float>(engine, rnn, seed: 1))
        using (var x = engine.Wrap<float>(xMem, xDesc.ElementCount))               // retains xMem; checks context and size
        {
            // ... your kernels write xMem on `queue` ...
            float fill = 0.5f;                                                      // (test only: stands in for your kernels)
            Assert.Equal(0, cl.EnqueueFillBuffer(queue, xMem, &fill, sizeof(float), 0, (nuint)(xDesc.ElementCount * sizeof(float)), 0, null, null));
            long before = engine.SynchronizingCalls;                               // (test only; the layer's weight upload waited)
            using var context = lstm.Forward(xDesc, x);                            // enqueued after them on `queue`; no wait
            lstm.Backward(context, dhy: context.Hy);                              // still no host synchronisation
            nint y = ((OpenClBuffer<float>)context.Y).Handle;                     // a cl_mem your kernels may read on `queue`
            syncs = engine.SynchronizingCalls - before;                           // (test only) 0: nothing waited
            hy = context.Hy.ToArray();                                            // a read waits for the queue
        }
        cl.ReleaseMemObject(xMem);                                                  // your references, released when you like
        cl.ReleaseCommandQueue(queue);
        cl.ReleaseContext(ctx);
        // --- end ---
        Assert.Equal(0, err);
        Assert.Equal(0, syncs);
        Assert.Equal(16 * 4, hy.Length);
        Assert.All(hy, v => Assert.True(float.IsFinite(v)));
    }
}
