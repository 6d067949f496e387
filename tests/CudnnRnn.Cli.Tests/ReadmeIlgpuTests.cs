using CudnnRnn.Cpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Xunit;

namespace CudnnRnn.Cli.Tests;

/// <summary>The README's ILGPU snippet ("Using CudnnRnn inside your GPU stack"), compiled and run on ILGPU's CPU accelerator.</summary>
public sealed unsafe class ReadmeIlgpuTests
{
    private static void Produce(Index1D i, ArrayView<float> x) => x[i] = 0.01f * i;   // an ILGPU kernel

    [Fact]
    public void IlgpuCpuSnippet_Runs()
    {
        var rnn = new RnnDescriptor(RnnMode.Gru, inputSize: 8, hiddenSize: 16, dataType: RnnDataType.Float32);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, maxSeqLength: 10, batch: 4, vectorSize: 8);
        float[] y;
        // --- README: ILGPU (keep in sync with README.md) ---
        using var ilgpu = Context.Create(b => b.CPU());
        using var accelerator = ilgpu.CreateCPUAccelerator(0);
        using var xBuffer = accelerator.Allocate1D<float>(xDesc.ElementCount);
        var produce = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(Produce);
        produce((int)xBuffer.Length, xBuffer.View);                               // ILGPU writes x
        accelerator.Synchronize();                                                // ... and is done before we read it

        using var engine = CpuEngine.Create();
        using var gru = new RnnLayer<float>(engine, rnn, seed: 1);
        using var x = engine.Wrap((float*)xBuffer.NativePtr, xBuffer.Length);     // ILGPU CPU memory is host memory
        using var context = gru.Forward(xDesc, x);                                // reads ILGPU's buffer in place
        // --- end ---
        y = context.Y.ToArray();
        Assert.Equal(0.01f * 7, x.ToArray()[7]);
        Assert.Equal(10 * 4 * 16, y.Length);
        Assert.Contains(y, v => v != 0);
    }
}
