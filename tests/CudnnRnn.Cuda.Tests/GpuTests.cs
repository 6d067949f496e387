using CudnnRnn.Testing;
using System.Runtime.InteropServices;
using CudnnRnn.Cpu;
using CudnnRnn.Interop;
using CudnnRnn.Verification;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Tests that need a GPU with cuDNN. Each one calls <see cref="Gpu.RequireEngine"/> first, which skips with the exact
/// reason from <see cref="CudaEngine.TryCreate(out CudaEngine?, out string)"/> when there is none: never a silent pass.
/// </summary>
[Collection(NativeCollection.Name)]
public sealed class GpuTests
{
    private static ITestOutputHelper? Output => TestContext.Current.TestOutputHelper;

    /// <summary>NVIDIA's RNN_v8.0 golden checksums (API.md §1): the only numbers computed by real cuDNN we have.</summary>
    [Theory]
    [InlineData(RnnMode.RnnRelu)]
    [InlineData(RnnMode.RnnTanh)]
    [InlineData(RnnMode.Lstm)]
    [InlineData(RnnMode.Gru)]
    public void Nvidia_sample_checksums(RnnMode mode)
    {
        using var engine = Gpu.RequireEngine();
        var sums = NvidiaSample.Compute(mode, engine);
        var errors = new List<string>();
        foreach (var (name, expected) in NvidiaSample.Golden[mode])
        {
            double rel = Math.Abs(sums[name] - expected) / Math.Abs(expected);
            Output?.WriteLine($"{mode} {name}: {sums[name]:E6} vs NVIDIA {expected:E6} (rel {rel:E2})");
            if (!(rel <= NvidiaSample.Tolerance)) errors.Add($"{name}: {sums[name]:E6}, NVIDIA {expected:E6}, rel {rel:E2}");
        }
        Assert.True(errors.Count == 0, $"{mode} on {engine.DeviceDescription}: " + string.Join("; ", errors));
    }

    public static TheoryData<int> ParitySeeds => [.. Enumerable.Range(0, 24)];

    /// <summary>CPU reference vs cuDNN on random configurations (seeded), forward and both backward passes.</summary>
    [Theory]
    [MemberData(nameof(ParitySeeds))]
    public void Cpu_and_cuDNN_agree_on_random_configurations(int seed)
    {
        using var cuda = Gpu.RequireEngine();
        using var cpu = TestCpu.Engine();
        var rng = new Random(1000 + seed);
        var mode = (RnnMode)(seed % 4);
        var dir = rng.Next(2) == 0 ? RnnDirection.Unidirectional : RnnDirection.Bidirectional;
        int hidden = rng.Next(2, 9), input = rng.Next(1, 9), layers = rng.Next(1, 4);
        int? proj = mode == RnnMode.Lstm && rng.Next(2) == 0 ? rng.Next(1, hidden) : null;
        var bias = (RnnBiasMode)rng.Next(4);
        var dataType = seed % 3 == 0 ? RnnDataType.Float32 : RnnDataType.Float64;
        var rnn = new RnnDescriptor(mode, input, hidden, layers, dir, proj, bias, dataType: dataType);
        var layout = (RnnDataLayout)rng.Next(3);
        int batch = rng.Next(1, 6), maxT = rng.Next(1, 8);
        var lengths = Enumerable.Range(0, batch).Select(_ => rng.Next(1, maxT + 1)).ToArray();
        if (layout == RnnDataLayout.SeqMajorPacked) Array.Sort(lengths, (a, b) => b.CompareTo(a));
        var xDesc = new RnnDataDescriptor(layout, maxT, batch, input, lengths);
        Output?.WriteLine($"{rnn} | {xDesc}");
        if (dataType == RnnDataType.Float32) Parity<float>(cpu, cuda, rnn, xDesc, seed);
        else Parity<double>(cpu, cuda, rnn, xDesc, seed);
    }

    /// <summary>
    /// LSTM cell clipping: cuDNN is the definition. The CPU engine clips where c is read and leaves cy unclipped, after the
    /// only concrete description we found (NVIDIA's wording is NOT FOUND, API.md); this compares the two on a range tight
    /// enough that every step clips (asymmetric, so a swapped min/max fails), for both NaN policies, with and without
    /// projection, one and two directions.
    /// </summary>
    [Theory]
    [InlineData(false, false, ClipNanMode.Propagate)]
    [InlineData(true, false, ClipNanMode.Propagate)]
    [InlineData(true, true, ClipNanMode.NotPropagate)]
    [InlineData(false, true, ClipNanMode.NotPropagate)]
    public void Lstm_cell_clipping_matches_cuDNN(bool bidirectional, bool projection, ClipNanMode nan)
    {
        using var cuda = Gpu.RequireEngine();
        using var cpu = TestCpu.Engine();
        var dir = bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional;
        var clip = new RnnCellClip(-0.15, 0.25, nan);
        var rnn = new RnnDescriptor(RnnMode.Lstm, 5, 6, 2, dir, projection ? 4 : null, dataType: RnnDataType.Float64, cellClip: clip);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 7, 3, 5, [7, 4, 6]);
        // The case must exercise the clip: without it the CPU engine's outputs differ.
        var unclipped = new RnnDescriptor(RnnMode.Lstm, 5, 6, 2, dir, projection ? 4 : null, dataType: RnnDataType.Float64);
        Assert.NotEqual(CpuCellState(cpu, rnn, xDesc), CpuCellState(cpu, unclipped, xDesc));
        Parity<double>(cpu, cuda, rnn, xDesc, seed: 11);
    }

    /// <summary>Skip input (no input matrix; input size = hidden size) for every mode against the CPU engine.</summary>
    [Theory]
    [InlineData(RnnMode.RnnTanh)]
    [InlineData(RnnMode.RnnRelu)]
    [InlineData(RnnMode.Gru)]
    [InlineData(RnnMode.Lstm)]
    public void Skip_input_matches_cuDNN(RnnMode mode)
    {
        using var cuda = Gpu.RequireEngine();
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(mode, 6, 6, 2, RnnDirection.Bidirectional, inputMode: RnnInputMode.Skip, dataType: RnnDataType.Float64);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.BatchMajorUnpacked, 5, 4, 6, [5, 2, 4, 1]);
        Parity<double>(cpu, cuda, rnn, xDesc, seed: 5);
    }

    /// <summary>
    /// Packed data whose maxSeqLength is longer than every sequence: cuDNN 9.19 rejects that descriptor as given, so the
    /// engine passes the longest length; results must still equal the CPU engine's.
    /// </summary>
    [Fact]
    public void Packed_data_with_max_length_beyond_the_longest_sequence_runs()
    {
        using var cuda = Gpu.RequireEngine();
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(RnnMode.Gru, 4, 5, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float64);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorPacked, 9, 3, 4, [5, 3, 3]);
        Parity<double>(cpu, cuda, rnn, xDesc, seed: 3);
    }

    /// <summary>
    /// Full-length float32 batches with a small hidden size run cuDNN's persistent algorithm (as PyTorch's do); it must
    /// be accepted on this GPU and agree with the CPU engine; varied lengths stay on STANDARD.
    /// </summary>
    [Theory]
    [InlineData(RnnMode.Lstm, RnnDirection.Unidirectional)]
    [InlineData(RnnMode.Gru, RnnDirection.Bidirectional)]
    [InlineData(RnnMode.RnnTanh, RnnDirection.Bidirectional)]
    public void Small_hidden_full_length_plans_run_the_persistent_algorithm_and_match_the_CPU(RnnMode mode, RnnDirection dir)
    {
        using var cuda = Gpu.RequireEngine();
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(mode, 16, 32, 2, dir, dataType: RnnDataType.Float32);
        var full = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 12, 8, 16, Enumerable.Repeat(12, 8).ToArray());
        using (var plan = (CudaPlan<float>)cuda.CreatePlan<float>(rnn, full))
            Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H, plan.Algorithm);
        Parity<float>(cpu, cuda, rnn, full, seed: 21);
        var varied = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 12, 8, 16, [12, 11, 9, 12, 3, 7, 12, 1]);
        using (var plan = (CudaPlan<float>)cuda.CreatePlan<float>(rnn, varied))
            Assert.Equal(cudnnRNNAlgo_t.CUDNN_RNN_ALGO_STANDARD, plan.Algorithm);
    }

    private static double[] CpuCellState(IRnnEngine cpu, RnnDescriptor rnn, RnnDataDescriptor xDesc)
    {
        var rng = new Random(11);
        double[] Rand(long n) => Enumerable.Range(0, (int)n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var layout = cpu.GetWeightLayout(rnn);
        var parameters = layout.PyTorchParameters.ToDictionary(p => p.Name, p => Rand(p.Count).Select(v => v / Math.Sqrt(rnn.HiddenSize)).ToArray());
        long hN = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.StateSize, cN = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.HiddenSize;
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        var r = RunAll(cpu, rnn, xDesc, parameters, Mask(Rand(xDesc.ElementCount), xDesc), Mask(Rand(yDesc.ElementCount), yDesc),
            Rand(hN), Rand(hN), Rand(cN), Rand(cN));
        return r["cy"];
    }

    private static void Parity<T>(IRnnEngine cpu, IRnnEngine cuda, RnnDescriptor rnn, RnnDataDescriptor xDesc, int seed)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        T[] Rand(long n, double scale = 1) => Enumerable.Range(0, (int)n).Select(_ => T.CreateChecked((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        var cpuLayout = cpu.GetWeightLayout(rnn);
        double k = 1 / Math.Sqrt(rnn.HiddenSize);
        var parameters = cpuLayout.PyTorchParameters.ToDictionary(p => p.Name, p => Rand(p.Count, k));
        bool lstm = rnn.Mode == RnnMode.Lstm;
        long hN = (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.StateSize, cN = lstm ? (long)rnn.PseudoLayerCount * xDesc.Batch * rnn.HiddenSize : 0;
        var yDesc = xDesc.WithVectorSize(rnn.OutputSize);
        var x = Mask(Rand(xDesc.ElementCount), xDesc);
        var dy = Mask(Rand(yDesc.ElementCount), yDesc);
        var hx = Rand(hN); var dhy = Rand(hN); var cx = Rand(cN); var dcy = Rand(cN);

        var a = RunAll(cpu, rnn, xDesc, parameters, x, dy, hx, dhy, cx, dcy);
        var b = RunAll(cuda, rnn, xDesc, parameters, x, dy, hx, dhy, cx, dcy);
        double eps = Tolerance.Epsilon<T>();
        // Two implementations, each within the derived tolerance of the exact value: their difference is within twice it.
        double fwd = 2 * Tolerance.Relative(rnn, xDesc.MaxSeqLength, xDesc.TotalSteps, eps, backward: false);
        double bwd = 2 * Tolerance.Relative(rnn, xDesc.MaxSeqLength, xDesc.TotalSteps, eps, backward: true);
        double wgt = 2 * Tolerance.Relative(rnn, xDesc.MaxSeqLength, xDesc.TotalSteps, eps, backward: true, weightGradient: true);
        var failed = new List<string>();
        foreach (var (name, cpuValues) in a)
        {
            double rtol = name.StartsWith("grad.", StringComparison.Ordinal) ? wgt : name is "y" or "hy" or "cy" ? fwd : bwd;
            var c = TensorComparison.Compare(name, name, b[name], cpuValues, rtol);
            if (!c.Passed) failed.Add(c.ToString());
        }
        Assert.True(failed.Count == 0, $"{rnn} | {xDesc}: " + string.Join("; ", failed));
    }

    // Padded positions of x and dy are zero (never read by either engine, but kept equal for a clean comparison).
    private static T[] Mask<T>(T[] data, RnnDataDescriptor d) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (!d.IsUnpacked) return data;
        for (int t = 0; t < d.MaxSeqLength; t++)
            for (int b = 0; b < d.Batch; b++)
                if (t >= d.SeqLengths[b]) data.AsSpan((int)d.PaddedOffset(t, b), d.VectorSize).Clear();
        return data;
    }

    private static Dictionary<string, double[]> RunAll<T>(IRnnEngine engine, RnnDescriptor rnn, RnnDataDescriptor xDesc,
        Dictionary<string, T[]> parameters, T[] x, T[] dy, T[] hx, T[] dhy, T[] cx, T[] dcy)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var plan = engine.CreatePlan<T>(rnn, xDesc);
        var layout = plan.WeightLayout;
        var ws = new T[layout.TotalElements];
        foreach (var (name, values) in parameters) layout.ImportPyTorch<T>(ws, name, values);
        bool lstm = rnn.Mode == RnnMode.Lstm;
        using var pass = new PassBuffers<T>(plan, x, ws, hx, lstm ? cx : null, dy, dhy, lstm ? dcy : null);
        pass.RunTraining(WeightGradMode.Set);
        RnnBuffer<T> y = pass.Y, hy = pass.Hy, dx = pass.Dx, dhx = pass.Dhx, dw = pass.Dw;
        RnnBuffer<T>? cy = pass.Cy, dcx = pass.Dcx;
        static double[] D(RnnBuffer<T> b) => b.ToArray().Select(v => double.CreateChecked(v)).ToArray();
        var r = new Dictionary<string, double[]> { ["y"] = D(y), ["hy"] = D(hy), ["dx"] = D(Mask2(dx, xDesc)), ["dhx"] = D(dhx) };
        if (lstm) { r["cy"] = D(cy!); r["dcx"] = D(dcx!); }
        var dws = dw.ToArray();
        foreach (var p in layout.PyTorchParameters)
        {
            var g = new T[p.Count];
            layout.ExportPyTorch<T>(dws, p.Name, g);
            r["grad." + p.Name] = g.Select(v => double.CreateChecked(v)).ToArray();
        }
        return r;
    }

    // dx at padded positions is not specified by cuDNN's documentation we have; compare valid positions only.
    private static RnnBuffer<T> Mask2<T>(RnnBuffer<T> dx, RnnDataDescriptor d) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (!d.IsUnpacked) return dx;
        var h = Mask(dx.ToArray(), d);
        dx.CopyFrom(h);
        return dx;
    }

    /// <summary>10,000 plan/buffer/reserve create-use-dispose cycles leave no handle and no device byte behind.</summary>
    [Fact]
    public void Ten_thousand_create_dispose_cycles_leak_nothing()
    {
        using var engine = Gpu.RequireEngine();
        var rnn = new RnnDescriptor(RnnMode.Lstm, 4, 8, 2, RnnDirection.Bidirectional, projSize: 5);
        var xDesc = new RnnDataDescriptor(RnnDataLayout.SeqMajorUnpacked, 6, 3, 4, [6, 2, 4]);
        void Cycle()
        {
            using var plan = engine.CreatePlan<float>(rnn, xDesc);
            using var x = engine.Allocate<float>(xDesc.ElementCount);
            using var y = engine.Allocate<float>(plan.YDesc.ElementCount);
            using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
            using var reserve = plan.CreateReserve();
            plan.Forward(RnnForwardMode.Training, x, y, null, null, null, null, w, reserve);
        }
        Cycle(); // warm-up: the weight layout is cached per engine, cuDNN may allocate lazily once
        CudaException.ThrowIfFailed(Cudart.cudaDeviceSynchronize());
        long handles = CudaHandleDiagnostics.TotalLive, bytes = CudaHandleDiagnostics.LiveDeviceBytes;
        CudaException.ThrowIfFailed(Cudart.cudaMemGetInfo(out nuint free0, out _));
        for (int i = 0; i < 10_000; i++) Cycle();
        CudaException.ThrowIfFailed(Cudart.cudaDeviceSynchronize());
        CudaException.ThrowIfFailed(Cudart.cudaMemGetInfo(out nuint free1, out _));
        Assert.Equal(handles, CudaHandleDiagnostics.TotalLive);
        Assert.Equal(bytes, CudaHandleDiagnostics.LiveDeviceBytes);
        long drift = (long)free0 - (long)free1;
        Output?.WriteLine($"free before {free0}, after {free1}, drift {drift} bytes");
        Assert.True(drift < 4L << 20, $"device free memory dropped by {drift} bytes over 10,000 cycles");
    }

    /// <summary>Engines come and go too; their handles and streams are released.</summary>
    [Fact]
    public void Engines_release_their_handle_and_stream_even_when_disposed_before_their_buffers()
    {
        using (Gpu.RequireEngine()) { }
        long before = CudaHandleDiagnostics.TotalLive;
        for (int i = 0; i < 20; i++)
        {
            var engine = CudaEngine.Create();
            var buffer = engine.Allocate<double>(100);
            engine.Dispose();          // the buffer keeps the handle and stream alive
            buffer.Fill(2.5);          // still usable
            Assert.Equal(2.5, buffer.ToArray()[99]);
            buffer.Dispose();
            buffer.Dispose();          // harmless
            engine.Dispose();
        }
        Assert.Equal(before, CudaHandleDiagnostics.TotalLive);
    }

    /// <summary>Dumps the weight-space table (settles API.md §12.1 on the first GPU run) and checks what PyTorch asserts.</summary>
    [Theory]
    [InlineData(RnnMode.Lstm, 2, true, 3)]
    [InlineData(RnnMode.Gru, 3, true, 0)]
    [InlineData(RnnMode.RnnTanh, 2, false, 0)]
    public void Weight_params_table_is_complete_and_its_block_order_is_reported(RnnMode mode, int layers, bool bidirectional, int proj)
    {
        using var engine = Gpu.RequireEngine();
        var rnn = new RnnDescriptor(mode, 5, 7, layers, bidirectional ? RnnDirection.Bidirectional : RnnDirection.Unidirectional,
            proj > 0 ? proj : null);
        var (bytes, table) = engine.QueryWeightParams(rnn);
        foreach (var row in table) Output?.WriteLine(row.ToString());
        var layout = CudnnWeightLayoutBuilder.Build(rnn, bytes, 4, table);
        var order = CudnnWeightLayoutBuilder.ClassifyBlockOrder(layout);
        Output?.WriteLine($"{rnn}: {bytes} bytes, block order {order}");
        // PyTorch asserts the gates of each W block, R block and bias block are contiguous (API.md §7.4).
        int g = rnn.Gates;
        for (int pl = 0; pl < rnn.PseudoLayerCount; pl++)
            for (int id = 0; id < 2 * g - 1; id++)
            {
                if (id == g - 1) continue;
                var e = layout[pl, id];
                var n = layout[pl, id + 1];
                Assert.Equal(e.MatrixOffset + (long)e.Rows * e.Cols, n.MatrixOffset);
                if (e.HasBias) Assert.Equal(e.BiasOffset + e.BiasLength, n.BiasOffset);
            }
        Assert.Same(layout.Descriptor, rnn);
    }

    /// <summary>Every bound entry point exists in the loaded libraries (version-specific ones on their version only).</summary>
    [Fact]
    public void Every_bound_entry_point_is_exported_by_the_loaded_libraries()
    {
        using var engine = Gpu.RequireEngine();
        var contract = ContractTests.ContractFunctions();
        int major = engine.CudnnVersion.Major;
        var missing = new List<string>();
        foreach (var (m, import) in ContractTests.Imports())
        {
            if (import.LibraryName == CudaLibraries.DriverLibraryName)
            {
                if (CudaLibraries.TryLoadDriver(out _) && !NativeLibrary.TryGetExport(CudaLibraries.LoadDriver(), m.Name, out _)) missing.Add(m.Name);
                continue;
            }
            var f = contract[m.Name];
            if (f.Library == CudaLibraries.CudnnLibraryName && ((major >= 9 && f.RemovedInV9) || (major < 9 && f.Since == "9.6.0"))) continue;
            nint lib = f.Library == CudaLibraries.CudnnLibraryName ? CudaLibraries.LoadCudnn() : CudaLibraries.LoadCudart();
            if (!NativeLibrary.TryGetExport(lib, m.Name, out _)) missing.Add(m.Name);
        }
        Assert.True(missing.Count == 0, $"Not exported by cuDNN {engine.CudnnVersion} / the CUDA runtime: " + string.Join(", ", missing));
    }

    /// <summary>Dropout is applied in training only: an inference forward with p &gt; 0 equals one with p = 0.</summary>
    [Fact]
    public void Dropout_keeps_its_state_alive_and_inference_ignores_it()
    {
        using var engine = Gpu.RequireEngine();
        var rnn0 = new RnnDescriptor(RnnMode.Gru, 3, 6, 3, dataType: RnnDataType.Float64);
        var rnnP = rnn0.WithDropout(0.5, 1234);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorUnpacked, 5, 2, 3);
        using var p0 = (CudaPlan<double>)engine.CreatePlan<double>(rnn0, xDesc);
        using var pP = (CudaPlan<double>)engine.CreatePlan<double>(rnnP, xDesc);
        Assert.Equal(0, p0.DropoutStateBytes);
        Assert.True(pP.DropoutStateBytes > 0);
        var rng = new Random(7);
        var wHost = Enumerable.Range(0, (int)p0.WeightLayout.TotalElements).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var xHost = Enumerable.Range(0, (int)xDesc.ElementCount).Select(_ => rng.NextDouble() - 0.5).ToArray();
        using var w = engine.Allocate<double>(wHost.Length); w.CopyFrom(wHost);
        using var x = engine.Allocate<double>(xHost.Length); x.CopyFrom(xHost);
        using var y0 = engine.Allocate<double>(p0.YDesc.ElementCount);
        using var yP = engine.Allocate<double>(pP.YDesc.ElementCount);
        p0.Forward(RnnForwardMode.Inference, x, y0, null, null, null, null, w, null);
        pP.Forward(RnnForwardMode.Inference, x, yP, null, null, null, null, w, null);
        Assert.Equal(y0.ToArray(), yP.ToArray());
        using var reserve = pP.CreateReserve();
        pP.Forward(RnnForwardMode.Training, x, yP, null, null, null, null, w, reserve);
        Assert.NotEqual(y0.ToArray(), yP.ToArray()); // p = 0.5 between 3 layers changes the output
    }

    /// <summary>Bad input is refused with the argument's name before any native call; foreign buffers are rejected.</summary>
    [Fact]
    public void Bad_input_and_foreign_buffers_are_rejected_with_the_argument_named()
    {
        using var engine = Gpu.RequireEngine();
        using var cpu = TestCpu.Engine();
        var rnn = new RnnDescriptor(RnnMode.RnnTanh, 3, 4);
        var xDesc = RnnDataDescriptor.Uniform(RnnDataLayout.SeqMajorPacked, 2, 2, 3);
        Assert.Equal("rnn", Assert.Throws<ArgumentException>(() => engine.CreatePlan<double>(rnn, xDesc)).ParamName);
        Assert.Equal("xDesc", Assert.Throws<ArgumentException>(() => engine.CreatePlan<float>(rnn, xDesc.WithVectorSize(4))).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.Allocate<float>(-1));
        using var plan = engine.CreatePlan<float>(rnn, xDesc);
        using var foreign = cpu.Allocate<float>(xDesc.ElementCount);
        using var y = engine.Allocate<float>(plan.YDesc.ElementCount);
        using var w = engine.Allocate<float>(plan.WeightLayout.TotalElements);
        var e = Assert.Throws<ArgumentException>(() => plan.Forward(RnnForwardMode.Inference, foreign, y, null, null, null, null, w, null));
        Assert.Equal("x", e.ParamName);
        plan.Dispose();
        plan.Dispose();
    }
}
