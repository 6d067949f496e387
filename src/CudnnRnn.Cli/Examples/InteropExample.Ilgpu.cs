using CudnnRnn.Cpu;
using CudnnRnn.OpenCL;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;

namespace CudnnRnn.Cli.Examples;

// ILGPU around our RNN: every buffer is an ILGPU MemoryBuffer1D written by an ILGPU kernel, our engine works on it in
// place, and an ILGPU kernel consumes y. On ILGPU's CPU accelerator a buffer is host memory (NativePtr is its address:
// CpuEngine.Wrap(pointer, length)); on its OpenCL accelerator NativePtr is the cl_mem, Accelerator.NativePtr the
// cl_context and the default stream's CommandQueue the cl_command_queue (OpenClEngine.CreateOver + Wrap).
internal static partial class InteropExample
{
    private static IOutsideMemory CreateIlgpuCpu()
    {
        var context = Context.Create(b => b.CPU());
        try
        {
            var accelerator = context.CreateCPUAccelerator(0);
            return new IlgpuOutside(context, accelerator, CpuEngine.Create(), cpu: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static IOutsideMemory CreateIlgpuOpenCl(string? device)
    {
        _ = device;
        // ILGPU's OpenCL backend only accepts devices it can compile for (OpenCL 2.0 generic address space, ...); list
        // every device with the reason ILGPU gives, so the report says exactly why a device is refused.
        var all = Context.Create(b => b.OpenCL(_ => true));
        var supported = Context.Create(b => b.OpenCL());
        try
        {
            var devices = supported.GetCLDevices();
            if (devices.Count == 0 && all.GetCLDevices().Count > 0)
            {
                // Try the refused device anyway, to report what exactly fails (accelerator, kernel compile or launch).
                Accelerator? forced = null;
                try
                {
                    forced = all.GetCLDevices()[0].CreateAccelerator(all);
                    var outside = new IlgpuOutside(all, forced, OpenClEngine.CreateOver(forced.NativePtr, ((CLStream)forced.DefaultStream).CommandQueue), cpu: false);
                    using (var probe = outside.Create([1f, 2f])) _ = outside.Read(probe);
                    supported.Dispose();
                    return outside;
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    forced?.Dispose();
                    string seenDevice = all.GetCLDevices()[0] is CLDevice d0 ? $"'{d0.Name}' (OpenCL C {d0.CVersion}, generic address space: {d0.Capabilities.GenericAddressSpace})" : "?";
                    throw new NotSupportedException($"ILGPU {typeof(Context).Assembly.GetName().Version} does not list {seenDevice} as supported, " +
                        $"and using it anyway fails: {e.GetType().Name}: {e.Message.Split('\n')[0]}", e);
                }
            }
            if (devices.Count == 0)
            {
                var seenDevices = new List<string>();
                foreach (object d in all.GetCLDevices())
                    if (d is CLDevice cl) seenDevices.Add($"'{cl.Name}' (OpenCL C {cl.CVersion}, generic address space: {cl.Capabilities.GenericAddressSpace})");
                string seen = string.Join("; ", seenDevices);
                throw new NotSupportedException($"ILGPU {typeof(Context).Assembly.GetName().Version} finds no OpenCL device it supports here " +
                    $"(devices seen: {(seen.Length == 0 ? "none" : seen)}).");
            }
            var accelerator = (CLAccelerator)devices[0].CreateAccelerator(supported);
            var stream = (CLStream)accelerator.DefaultStream;
            var engine = OpenClEngine.CreateOver(accelerator.NativePtr, stream.CommandQueue);
            all.Dispose();
            return new IlgpuOutside(supported, accelerator, engine, cpu: false);
        }
        catch
        {
            all.Dispose();
            supported.Dispose();
            throw;
        }
    }

    private sealed unsafe class IlgpuOutside : IOutsideMemory
    {
        private readonly Context _context;
        private readonly Accelerator _accelerator;
        private readonly IRnnEngine _engine;
        private readonly bool _cpu;
        private readonly List<MemoryBuffer1D<float, Stride1D.Dense>> _buffers = [];
        private readonly Dictionary<RnnBuffer<float>, MemoryBuffer1D<float, Stride1D.Dense>> _where = [];
        private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _produce, _square;

        public IlgpuOutside(Context context, Accelerator accelerator, IRnnEngine engine, bool cpu)
        {
            _context = context;
            _accelerator = accelerator;
            _engine = engine;
            _cpu = cpu;
            _produce = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Produce);
            _square = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Square);
            Description = $"{engine.Name} engine over ILGPU {typeof(Context).Assembly.GetName().Version} buffers on '{accelerator.Name}' " +
                          $"({accelerator.AcceleratorType}); ILGPU kernels write every input and read y";
        }

        /// <summary>The producing kernel: out[i] = in[i] (x, the states, the weights and the gradients come out of ILGPU).</summary>
        private static void Produce(Index1D i, ArrayView<float> source, ArrayView<float> destination) => destination[i] = source[i];

        /// <summary>The consuming kernel: out[i] = y[i]² (what a loss on y would start with).</summary>
        private static void Square(Index1D i, ArrayView<float> y, ArrayView<float> result) => result[i] = y[i] * y[i];

        public string Description { get; }
        public IRnnEngine Engine => _engine;

        private MemoryBuffer1D<float, Stride1D.Dense> Allocate(long n)
        {
            var b = _accelerator.Allocate1D<float>(Math.Max(n, 1));
            _buffers.Add(b);
            return b;
        }

        private RnnBuffer<float> View(MemoryBuffer1D<float, Stride1D.Dense> b, long n) =>
            _cpu ? ((CpuEngine)_engine).Wrap((float*)b.NativePtr, n) : ((OpenClEngine)_engine).Wrap<float>(b.NativePtr, n);

        public RnnBuffer<float> Create(float[] contents)
        {
            var staging = Allocate(contents.Length);
            staging.View.SubView(0, contents.Length).CopyFromCPU(contents);
            var target = Allocate(contents.Length);
            _produce(contents.Length, staging.View, target.View);
            // Ordering between the two libraries: ILGPU's CPU accelerator and our CPU engine do not share a queue, so
            // wait for ILGPU before our engine reads; on OpenCL both use ILGPU's default stream (one in-order queue).
            if (_cpu) _accelerator.Synchronize();
            var view = View(target, contents.Length);
            _where[view] = target;
            return view;
        }

        public float[] Read(RnnBuffer<float> view)
        {
            _engine.Synchronize();   // our work on the queue (OpenCL) is done before ILGPU copies out
            return _where[view].View.SubView(0, view.Length).GetAsArray1D();
        }

        public float[]? Consume(RnnBuffer<float> y)
        {
            var result = Allocate(y.Length);
            _square((int)y.Length, _where[y].View.SubView(0, y.Length), result.View);
            _accelerator.Synchronize();
            return result.View.SubView(0, y.Length).GetAsArray1D();
        }

        public void Dispose()
        {
            _engine.Dispose();
            foreach (var b in _buffers) b.Dispose();
            _accelerator.Dispose();
            _context.Dispose();
        }
    }
}
