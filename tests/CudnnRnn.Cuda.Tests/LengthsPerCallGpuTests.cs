using CudnnRnn.Cpu;
using CudnnRnn.Interop;
using CudnnRnn.Verification;
using CudnnRnn.Testing;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Plans per shape, lengths per call on cuDNN: one warm layer shape through calls with different lengths makes no
/// synchronizing CUDA call (no cudaMalloc/cudaFree/cudaMemcpy/stream or event synchronize), and every call matches the
/// CPU engine. Needs a GPU; skips visibly otherwise.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class LengthsPerCallGpuTests
{
    [Theory]
    [InlineData(RnnDataLayout.SeqMajorUnpacked)]
    [InlineData(RnnDataLayout.SeqMajorPacked)]
    [InlineData(RnnDataLayout.BatchMajorUnpacked)]
    public void VariableLengthCalls_OnOneWarmPlan_MakeNoSynchronizingCall_AndMatchTheCpuEngine(RnnDataLayout layout)
    {
        using var engine = Gpu.RequireEngine();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 16, 32, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var shape = RnnDataDescriptor.Uniform(layout, 12, 6, 16);
        var calls = LengthsPerCall.RandomLengthSets(shape, 6, 11);
        using var cpuEngine = CpuEngine.Create();
        using var gpu = new RnnLayer<float>(engine, rnn, seed: 1);
        using var cpu = new RnnLayer<float>(cpuEngine, rnn, seed: 1);
        foreach (var p in cpu.Parameters) gpu.ImportPyTorch(p.Name, cpu.ExportPyTorch(p.Name));
        var rng = new Random(5);
        var xs = calls.Select(d => Enumerable.Range(0, (int)d.ElementCount).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray()).ToArray();
        var dys = calls.Select(d => Enumerable.Range(0, (int)(d.ElementCount / 16 * 64)).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray()).ToArray();
        var xBufs = xs.Select(v => engine.Upload<float>(v)).ToArray();
        var dyBufs = dys.Select(v => engine.Upload<float>(v)).ToArray();
        var dxBufs = calls.Select(d => engine.Allocate<float>(d.ElementCount)).ToArray();
        try
        {
            void Step(int i)
            {
                using var context = gpu.Forward(calls[i], xBufs[i]);
                gpu.Backward(context, dyBufs[i], dx: dxBufs[i]);
            }
            for (int i = 0; i < calls.Length; i++) Step(i);   // warm: the shape's plan, context storage, pool
            engine.Synchronize();
            Assert.Equal(1, gpu.CachedShapes);
            long plans = gpu.PlansCreated;
            GpuQuiet.SettleFinalizers();   // the counter is process-wide: no earlier test's finalizer may free inside the window
            long before = CudaHandleDiagnostics.SynchronizingCalls;
            for (int round = 0; round < 3; round++)
                for (int i = 0; i < calls.Length; i++) Step((i * 5 + round) % calls.Length);
            long during = CudaHandleDiagnostics.SynchronizingCalls - before;
            engine.Synchronize();
            Assert.True(during == 0, $"{during} synchronizing calls in {3 * calls.Length} warm variable-length training steps; expected none");
            Assert.Equal(plans, gpu.PlansCreated);

            // Each call against the CPU engine (2 × the one-engine rounding bound, as the conformance parity).
            double eps = Tolerance.Epsilon<float>();
            for (int i = 0; i < calls.Length; i++)
            {
                gpu.ZeroGrad();
                cpu.ZeroGrad();
                using var g = gpu.Forward(calls[i], xBufs[i]);
                gpu.Backward(g, dyBufs[i], dx: dxBufs[i]);
                using var c = cpu.Forward(calls[i], xs[i]);
                var cdx = cpu.Backward(c, dys[i]).Dx;
                long n = calls[i].TotalSteps; int T = calls[i].MaxSeqLength;
                double fwd = 2 * Tolerance.Relative(rnn, T, n, eps, backward: false), bwd = 2 * Tolerance.Relative(rnn, T, n, eps, backward: true);
                double wgt = 2 * Tolerance.Relative(rnn, T, n, eps, backward: true, weightGradient: true);
                var checks = new[]
                {
                    TensorComparison.Compare("y", "y", ToD(g.Y.ToArray()), ToD(c.Y.ToArray()), fwd),
                    TensorComparison.Compare("hy", "hy", ToD(g.Hy.ToArray()), ToD(c.Hy.ToArray()), fwd),
                    TensorComparison.Compare("dx", "dx", ToD(dxBufs[i].ToArray()), ToD(cdx), bwd),
                    TensorComparison.Compare("dw", "dw", ToD(gpu.ExportPyTorchGradient("weight_hh_l0")), ToD(cpu.ExportPyTorchGradient("weight_hh_l0")), wgt),
                };
                foreach (var cmp in checks) Assert.True(cmp.Passed, $"call {i} {calls[i]}: {cmp}");
            }
        }
        finally
        {
            foreach (var b in xBufs.Concat(dyBufs).Concat(dxBufs)) b.Dispose();
        }
    }

    private static double[] ToD(float[] a) => Array.ConvertAll(a, v => (double)v);
}
