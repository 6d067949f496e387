// Memory made outside this library (a pinned array or native memory on the CPU; clCreateBuffer on the example's own
// OpenCL context and queue; ILGPU buffers) goes through a forward and a backward without a copy, and every result is
// compared, bitwise, with the same computation on buffers the engine allocated itself.
using System.Globalization;

namespace CudnnRnn.Cli.Examples;

/// <summary>Memory another library owns, seen by one engine: create with contents, wrap, read back through that library.</summary>
internal interface IOutsideMemory : IDisposable
{
    /// <summary>One line saying what the memory is.</summary>
    string Description { get; }

    /// <summary>The engine the views belong to.</summary>
    IRnnEngine Engine { get; }

    /// <summary>Allocates outside memory holding <paramref name="contents"/> (through the other library) and returns the
    /// engine's zero-copy view of it.</summary>
    RnnBuffer<float> Create(float[] contents);

    /// <summary>Reads a view's memory through the other library (not through the engine).</summary>
    float[] Read(RnnBuffer<float> view);

    /// <summary>Work the other library does on our output: y² computed by its own kernel (ILGPU), or null when it has none.</summary>
    float[]? Consume(RnnBuffer<float> y) => null;
}

/// <summary><c>cudnnrnn example interop</c>: the checks and their one-line report.</summary>
internal static partial class InteropExample
{
    private static readonly RnnDescriptor Rnn = new(RnnMode.Lstm, 6, 8, 2, RnnDirection.Bidirectional, dataType: RnnDataType.Float32);
    private static readonly RnnDataDescriptor XDesc = new(RnnDataLayout.SeqMajorUnpacked, 5, 3, 6, [5, 2, 4]);

    /// <summary>Runs the example for one engine kind (with ILGPU producing and consuming the data when
    /// <paramref name="ilgpu"/>); returns the exit code: 0 when every check passed.</summary>
    public static int Run(EngineKind kind, string? device, bool ilgpu, ExampleOptions options)
    {
        var log = options.Log;
        IOutsideMemory outside;
        try
        {
            switch (kind)
            {
                case EngineKind.Cpu: outside = ilgpu ? CreateIlgpuCpu() : new CpuOutside(); break;
                case EngineKind.OpenCl: outside = ilgpu ? CreateIlgpuOpenCl(device) : OpenClOutside.Create(device); break;
                case EngineKind.Cuda: return RunCudaExample(device, ilgpu, options);
                default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
            }
        }
        catch (Exception e) when (e is RnnEngineUnavailableException or NotSupportedException or InvalidOperationException or DllNotFoundException)
        {
            log.WriteLine($"interop: the {Engines.NameOf(kind)}{(ilgpu ? " + ILGPU" : "")} path is unavailable here: {e.Message}");
            log.WriteLine("interop: 0 checks passed, 1 failed");
            return 1;
        }
        using (outside) return RunChecks(outside, options);
    }

    /// <summary>The cuda engine: an ordinary engine as the reference, then <see cref="RunCuda"/>'s checks on memory and a
    /// stream "another library" made (InteropExample.Cuda.cs). ILGPU's CUDA accelerator is not wired here.</summary>
    private static int RunCudaExample(string? device, bool ilgpu, ExampleOptions options)
    {
        var log = options.Log;
        if (ilgpu)
        {
            log.WriteLine("interop: --ilgpu with --engine cuda is not implemented (see README: ILGPU's CUDA accelerator creates its own context; use CudaEngine.CreateInCurrentContext)");
            log.WriteLine("interop: 0 checks passed, 1 failed");
            return 1;
        }
        int ordinal = 0;
        if (device is not null && !int.TryParse(device, NumberStyles.Integer, CultureInfo.InvariantCulture, out ordinal))
        {
            log.WriteLine($"interop: --device for cuda is a device ordinal (0, 1, ...), not '{device}'");
            log.WriteLine("interop: 0 checks passed, 1 failed");
            return 1;
        }
        if (!Cuda.CudaEngine.TryCreate(out var engine, out var reason, ordinal))
        {
            log.WriteLine($"interop: the cuda path is unavailable here: {reason}");
            log.WriteLine("interop: 0 checks passed, 1 failed");
            return 1;
        }
        using (engine)
        {
            log.WriteLine($"interop: cuda, {engine!.DeviceDescription}");
            var (passed, failed) = RunCuda(engine, log, options.Seed);
            log.WriteLine($"interop: {passed} checks passed, {failed} failed");
            return failed == 0 ? 0 : 1;
        }
    }

    private static int RunChecks(IOutsideMemory outside, ExampleOptions options)
    {
        var log = options.Log;
        var engine = outside.Engine;
        log.WriteLine($"interop: {outside.Description}");
        log.WriteLine($"  network: {Rnn.Mode} {Rnn.InputSize}->{Rnn.HiddenSize}, {Rnn.NumLayers} layers, bidirectional; x {XDesc.Layout} T={XDesc.MaxSeqLength} B={XDesc.Batch}, lengths [{string.Join(",", XDesc.SeqLengthArray)}]");
        var rng = new SeededRandom(options.Seed);
        using var plan = engine.CreatePlan<float>(Rnn, XDesc);
        var inputs = new Inputs(
            Random(rng, XDesc.ElementCount), Random(rng, plan.HiddenStateElements), Random(rng, plan.CellStateElements),
            Random(rng, plan.WeightLayout.TotalElements, 1.0 / Math.Sqrt(Rnn.HiddenSize)), Random(rng, plan.YDesc.ElementCount),
            Random(rng, plan.HiddenStateElements), Random(rng, plan.CellStateElements));

        int passed = 0, failed = 0;
        void Check(string what, float[] expected, float[] got)
        {
            var (ok, detail) = CompareBitwise(expected, got);
            if (ok) passed++; else failed++;
            log.WriteLine($"  {(ok ? "ok  " : "FAIL")} {what,-16} {detail}");
        }

        // 1. The plan on outside memory only: inputs, weights, outputs and gradients all belong to the other library.
        var reference = PlanStep(plan, inputs, d => engine.Upload<float>(d), b => b.ToArray());
        var viaOutside = PlanStep(plan, inputs, outside.Create, outside.Read, outside);
        foreach (var (name, e, g) in reference.Pairs(viaOutside)) Check("plan " + name, e, g);
        if (viaOutside.Consumed is { } squares)   // IEEE multiplication: the other library's y² has the bits of ours
            Check("consumer y*y", [.. reference.Y.Select(v => v * v)], squares);

        // 2. The layer (forward context + backward) on outside x, hx, cx, dy, dhy, dcy, dx, dhx, dcx.
        using var layer = new RnnLayer<float>(engine, Rnn, options.Seed);
        layer.Weights.CopyFrom(inputs.W);
        var layerReference = LayerStep(layer, inputs, d => engine.Upload<float>(d), b => b.ToArray());
        var layerOutside = LayerStep(layer, inputs, outside.Create, outside.Read);
        foreach (var (name, e, g) in layerReference.Pairs(layerOutside)) Check("layer " + name, e, g);

        // 3. Engines that count host synchronisation: a warm device-resident step waits for nothing.
        if (SynchronisationCheck(engine, layer, inputs, outside) is { } sync)
        {
            if (sync.Ok) passed++; else failed++;
            log.WriteLine($"  {(sync.Ok ? "ok  " : "FAIL")} {"no host sync",-16} {sync.Detail}");
        }

        log.WriteLine($"interop: {passed} checks passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>Whether <paramref name="got"/> has exactly the bits of <paramref name="expected"/> (and is not empty), and one line saying so.</summary>
    internal static (bool Ok, string Detail) CompareBitwise(float[] expected, float[] got)
    {
        int differ = 0, first = -1;
        if (expected.Length == got.Length)
            for (int i = 0; i < expected.Length; i++)
                if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(got[i]))
                {
                    differ++;
                    if (first < 0) first = i;
                }
        bool ok = expected.Length == got.Length && differ == 0 && expected.Length > 0;
        string detail = expected.Length != got.Length ? $"{got.Length} values, expected {expected.Length}"
            : expected.Length == 0 ? "no values"
            : differ == 0 ? $"{expected.Length} values, bitwise equal to engine memory"
            : $"{differ} of {expected.Length} values differ (first at [{first}]: {got[first].ToString("R", CultureInfo.InvariantCulture)} vs {expected[first].ToString("R", CultureInfo.InvariantCulture)})";
        return (ok, detail);
    }

    private sealed record Inputs(float[] X, float[] Hx, float[] Cx, float[] W, float[] Dy, float[] Dhy, float[] Dcy);

    private sealed record Results(float[] Y, float[] Hy, float[] Cy, float[] Dx, float[] Dhx, float[] Dcx, float[] Dw)
    {
        /// <summary>y² as the other library's kernel computed it from our y in place, when it has one.</summary>
        public float[]? Consumed { get; init; }

        public IEnumerable<(string, float[], float[])> Pairs(Results got) =>
        [
            ("y", Y, got.Y), ("hy", Hy, got.Hy), ("cy", Cy, got.Cy), ("dx", Dx, got.Dx), ("dhx", Dhx, got.Dhx), ("dcx", Dcx, got.Dcx),
            ("dw", Dw, got.Dw),
        ];
    }

    private static Results PlanStep(RnnPlan<float> plan, Inputs i, Func<float[], RnnBuffer<float>> make, Func<RnnBuffer<float>, float[]> read,
        IOutsideMemory? consumer = null)
    {
        using var x = make(i.X);
        using var hx = make(i.Hx);
        using var cx = make(i.Cx);
        using var w = make(i.W);
        using var y = make(new float[plan.YDesc.ElementCount]);
        using var hy = make(new float[plan.HiddenStateElements]);
        using var cy = make(new float[plan.CellStateElements]);
        using var dy = make(i.Dy);
        using var dhy = make(i.Dhy);
        using var dcy = make(i.Dcy);
        using var dx = make(new float[plan.XDesc.ElementCount]);
        using var dhx = make(new float[plan.HiddenStateElements]);
        using var dcx = make(new float[plan.CellStateElements]);
        using var dw = make(new float[plan.WeightLayout.TotalElements]);
        using var reserve = plan.CreateReserve();
        plan.Forward(RnnForwardMode.Training, x, y, hx, hy, cx, cy, w, reserve);
        float[]? consumed = consumer?.Consume(y);
        plan.BackwardData(y, dy, dx, hx, dhy, dhx, cx, dcy, dcx, w, reserve);
        plan.BackwardWeights(WeightGradMode.Set, x, hx, y, dw, reserve);
        return new Results(read(y), read(hy), read(cy), read(dx), read(dhx), read(dcx), read(dw)) { Consumed = consumed };
    }

    private static Results LayerStep(RnnLayer<float> layer, Inputs i, Func<float[], RnnBuffer<float>> make, Func<RnnBuffer<float>, float[]> read)
    {
        using var x = make(i.X);
        using var hx = make(i.Hx);
        using var cx = make(i.Cx);
        using var dy = make(i.Dy);
        using var dhy = make(i.Dhy);
        using var dcy = make(i.Dcy);
        using var dx = make(new float[i.X.Length]);
        using var dhx = make(new float[i.Hx.Length]);
        using var dcx = make(new float[i.Cx.Length]);
        layer.ZeroGrad();
        using var context = layer.Forward(XDesc, x, hx, cx);
        layer.Backward(context, dy, dhy, dcy, dx, dhx, dcx);
        return new Results(context.Y.ToArray(), context.Hy.ToArray(), context.Cy!.ToArray(), read(dx), read(dhx), read(dcx),
            layer.WeightGradients.ToArray());
    }

    private static float[] Random(SeededRandom rng, long n, double scale = 1.0)
    {
        var a = new float[n];
        rng.FillUniform<float>(a, scale);
        return a;
    }

    /// <summary>The warm device-resident step on an OpenCL engine: synchronising calls and host copies, both expected 0.</summary>
    private static (bool Ok, string Detail)? SynchronisationCheck(IRnnEngine engine, RnnLayer<float> layer, Inputs i, IOutsideMemory outside)
    {
        if (engine is not OpenCL.OpenClEngine cl) return null;
        using var x = outside.Create(i.X);
        using var dy = outside.Create(i.Dy);
        using var dx = outside.Create(new float[i.X.Length]);
        void Step()
        {
            using var context = layer.Forward(XDesc, x);
            layer.Backward(context, dy, dx: dx);
        }
        Step();
        cl.Synchronize();
        long syncs = cl.SynchronizingCalls, copies = cl.HostTransfers;
        Step();
        long s = cl.SynchronizingCalls - syncs, c = cl.HostTransfers - copies;
        cl.Synchronize();
        return (s == 0 && c == 0, $"warm training step on outside memory: {s} synchronising calls, {c} host copies (expected 0 and 0)");
    }
}
