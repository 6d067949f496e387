// The CUDA branch of `cudnnrnn example interop`: device memory allocated outside our engine (cudaMalloc through the raw
// interop, standing in for another library: PyTorch/TorchSharp, ManagedCuda, ILGPU), on a stream that library owns, in the
// context current on the thread, goes through forward and backward with no copy; every result is compared bitwise with
// the same computation on engine-allocated buffers of an ordinary engine.
using CudnnRnn.Verification;
using System.Runtime.InteropServices;
using CudnnRnn.Cuda;
using CudnnRnn.Interop;

namespace CudnnRnn.Cli.Examples;

internal static partial class InteropExample
{
    /// <summary>
    /// Runs the CUDA checks against <paramref name="reference"/> (an engine from <see cref="CudaEngine.Create"/>), printing
    /// one line per check to <paramref name="log"/>; returns how many passed and failed. The caller prints the summary line.
    /// </summary>
    internal static (int Passed, int Failed) RunCuda(CudaEngine reference, TextWriter log, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(log);
        int passed = 0, failed = 0;
        void Check(string what, bool holds, string detail = "")
        {
            if (holds) passed++; else failed++;
            log.WriteLine($"  [{(holds ? "ok" : "FAIL")}] cuda: {what}{(detail.Length > 0 ? $" ({detail})" : "")}");
        }

        var rnn = new RnnDescriptor(RnnMode.Lstm, 8, 16, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, 3, 8, [6, 4, 5]);
        var host = InteropStepData.Create(reference, rnn, xDesc, seed);

        // The engine's way: buffers it allocates itself.
        using var ours = InteropStepData.Buffers.Allocate(reference, host);
        using (var plan = reference.CreatePlan<float>(rnn, xDesc))
            InteropStepData.Step(plan, xDesc, ours);
        var expected = ours.ReadAll();

        // "Another library": the primary context made current by the CUDA runtime, its own stream, cudaMalloc'd memory.
        CudaException.ThrowIfFailed(Cudart.cudaSetDevice(reference.Device));
        using var foreignStream = SafeCudaStream.Create();
        var raw = new List<SafeCudaDeviceMemory>();
        try
        {
            using var engine = CudaEngine.CreateInCurrentContext(foreignStream.DangerousGetHandle());
            Check("the engine queues its work on the caller's stream", engine.StreamHandle == foreignStream.DangerousGetHandle() && !engine.OwnsStream,
                $"engine stream 0x{engine.StreamHandle:x}, caller's 0x{foreignStream.DangerousGetHandle():x}");
            RnnBuffer<float> Foreign(float[] values)
            {
                var memory = SafeCudaDeviceMemory.Allocate((nuint)values.Length * sizeof(float));
                raw.Add(memory);
                unsafe
                {
                    fixed (float* p = values)
                        if (values.Length > 0)
                            CudaException.ThrowIfFailed(Cudart.cudaMemcpy((void*)memory.DangerousGetHandle(), p, (nuint)values.Length * sizeof(float), cudaMemcpyKind.cudaMemcpyHostToDevice));
                }
                return engine.Wrap<float>(memory.DangerousGetHandle(), values.Length);
            }
            using var theirs = InteropStepData.Buffers.From(host, Foreign);
            using var foreignPlan = engine.CreatePlan<float>(rnn, xDesc);
            long syncBefore = CudaHandleDiagnostics.SynchronizingCalls;
            InteropStepData.Step(foreignPlan, xDesc, theirs);
            Check("forward + backward on wrapped memory made no synchronizing call", CudaHandleDiagnostics.SynchronizingCalls == syncBefore,
                $"{CudaHandleDiagnostics.SynchronizingCalls - syncBefore} calls");
            CudaException.ThrowIfFailed(Cudart.cudaStreamSynchronize(foreignStream));
            var actual = theirs.ReadAll();
            foreach (var (name, e) in expected)
            {
                int diff = InteropStepData.BitwiseDifferences(e, actual[name]);
                Check($"{name} on wrapped cudaMalloc memory == engine memory, bitwise", diff == 0, $"{e.Length} values, {diff} differ");
            }

            // Disposing a view frees nothing: the caller's memory still holds the input.
            var xRaw = raw[0];
            theirs.X.Dispose();
            var back = new float[host.X.Length];
            unsafe
            {
                fixed (float* p = back)
                    CudaException.ThrowIfFailed(Cudart.cudaMemcpy(p, (void*)xRaw.DangerousGetHandle(), (nuint)back.Length * sizeof(float), cudaMemcpyKind.cudaMemcpyDeviceToHost));
            }
            Check("disposing a view leaves the caller's memory allocated and intact", InteropStepData.BitwiseDifferences(host.X, back) == 0);
            bool refused = false;
            try { _ = theirs.X.ToArray(); } catch (ObjectDisposedException) { refused = true; }
            Check("a disposed view refuses use", refused);

            // Host memory is refused before any cuDNN call.
            var pinned = GCHandle.Alloc(new float[4], GCHandleType.Pinned);
            try
            {
                string? message = null;
                try { engine.Wrap<float>(pinned.AddrOfPinnedObject(), 4).Dispose(); } catch (ArgumentException e) { message = e.Message; }
                Check("a host pointer is refused with a clear message", message is not null, message ?? "accepted");
            }
            finally
            {
                pinned.Free();
            }
        }
        finally
        {
            foreach (var m in raw) m.Dispose();
        }
        return (passed, failed);
    }
}
