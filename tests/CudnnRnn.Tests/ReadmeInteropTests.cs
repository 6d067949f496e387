using System.Runtime.InteropServices;
using CudnnRnn.Cpu;
using Xunit;

namespace CudnnRnn.Tests;

/// <summary>The README's CPU interop snippet ("Using CudnnRnn inside your GPU stack"), compiled and run.</summary>
public sealed unsafe class ReadmeInteropTests
{
    [Fact]
    public void CpuMemoryAndPointerSnippet_Runs()
    {
        float[] written;
        // --- README: CPU (keep in sync with README.md) ---
        using var engine = CpuEngine.Create();
        var rnn = new RnnDescriptor(RnnMode.Gru, inputSize: 8, hiddenSize: 16, dataType: RnnDataType.Float32);
        using var gru = new RnnLayer<float>(engine, rnn, seed: 1);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, maxSeqLength: 10, batch: 4, vectorSize: 8);

        float[] mine = new float[xDesc.ElementCount + 100];                   // your memory; fill it with your data
        using var x = engine.Wrap(mine.AsMemory(100, (int)xDesc.ElementCount)); // a view of a slice: no copy, frees nothing
        float* dxMemory = (float*)NativeMemory.Alloc((nuint)xDesc.ElementCount, sizeof(float)); // native memory you own
        try
        {
            using var dx = engine.Wrap(dxMemory, xDesc.ElementCount);          // pointer + length: no copy, frees nothing
            using var context = gru.Forward(xDesc, x);                          // reads `mine` in place
            gru.Backward(context, dy: context.Y, dx: dx);                       // writes dx straight into your memory
            written = new ReadOnlySpan<float>(dxMemory, (int)xDesc.ElementCount).ToArray();
        }
        finally { NativeMemory.Free(dxMemory); }                                // yours to free, after the views
        // --- end ---
        Assert.Equal(xDesc.ElementCount, written.Length);
        Assert.All(written, v => Assert.True(float.IsFinite(v)));
    }
}
