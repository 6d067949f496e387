using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CudnnRnn.Cpu;
using CudnnRnn.OpenCL;
using Silk.NET.OpenCL;

namespace CudnnRnn.Cli.Examples;

internal static partial class InteropExample
{
    /// <summary>
    /// CPU: memory another library owns, half pinned managed arrays (GC.AllocateArray(pinned: true)) wrapped by pointer,
    /// half native memory (NativeMemory.AlignedAlloc) — the engine sees a pointer and a length either way.
    /// </summary>
    private sealed unsafe class CpuOutside : IOutsideMemory
    {
        private readonly CpuEngine _engine = CpuEngine.Create();
        private readonly List<nint> _native = [];
        private readonly List<float[]> _pinned = [];   // kept reachable: the GC never moves or frees them meanwhile
        private readonly Dictionary<RnnBuffer<float>, (nint Pointer, int Length)> _where = [];
        private int _count;

        public string Description => "cpu engine over pinned managed arrays and NativeMemory blocks (CpuEngine.Wrap(pointer, length))";
        public IRnnEngine Engine => _engine;

        public RnnBuffer<float> Create(float[] contents)
        {
            float* p;
            if (_count++ % 2 == 0)
            {
                var a = GC.AllocateArray<float>(Math.Max(contents.Length, 1), pinned: true);
                _pinned.Add(a);
                p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));
            }
            else
            {
                p = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(contents.Length, 1) * sizeof(float), 64);
                _native.Add((nint)p);
            }
            contents.CopyTo(new Span<float>(p, contents.Length));
            var view = _engine.Wrap(p, contents.Length);
            _where[view] = ((nint)p, contents.Length);
            return view;
        }

        public float[] Read(RnnBuffer<float> view)
        {
            var (p, n) = _where[view];
            return new ReadOnlySpan<float>((void*)p, n).ToArray();
        }

        public void Dispose()
        {
            // Views were disposed first (they never free); the memory goes now, with its owner.
            foreach (var p in _native) NativeMemory.AlignedFree((void*)p);
            _native.Clear();
            _pinned.Clear();
            _engine.Dispose();
        }
    }

    /// <summary>
    /// OpenCL: a context and an in-order queue the example creates itself through Silk.NET, buffers made with
    /// clCreateBuffer and read back with clEnqueueReadBuffer on that queue, and the engine created over them.
    /// </summary>
    private sealed unsafe class OpenClOutside : IOutsideMemory
    {
        private static readonly CL Api = CL.GetApi();
        private readonly nint _context, _queue;
        private readonly OpenClEngine _engine;
        private readonly List<nint> _mems = [];
        private readonly Dictionary<RnnBuffer<float>, nint> _where = [];

        private OpenClOutside(nint context, nint queue, OpenClEngine engine, string device)
        {
            _context = context;
            _queue = queue;
            _engine = engine;
            Description = $"opencl engine over the example's own cl_context + cl_command_queue on '{device}', cl_mem from clCreateBuffer";
        }

        public string Description { get; }
        public IRnnEngine Engine => _engine;

        /// <summary>The first device the selector matches (the first GPU, else the first device), as the engine would pick.</summary>
        public static OpenClOutside Create(string? device)
        {
            var listing = OpenClEngine.ListDevices();
            if (!listing.Available) throw new RnnEngineUnavailableException("opencl", listing.Reason ?? "no OpenCL device");
            var selector = device is null ? null : OpenClDeviceSelector.Parse(device);
            var candidates = listing.Devices.Where(d => selector?.Matches(d) ?? true).ToList();
            if (candidates.Count == 0) throw new RnnEngineUnavailableException("opencl", $"no OpenCL device matches {selector}");
            var chosen = candidates.FirstOrDefault(d => d.Type == "GPU") ?? candidates[0];
            var (platform, dev) = Ids(chosen);
            return Over(platform, dev, chosen.Name);
        }

        /// <summary>The platform and device handles of a listed device, found again through the plain OpenCL API.</summary>
        private static (nint Platform, nint Device) Ids(OpenClDeviceInfo info)
        {
            uint np;
            Check(Api.GetPlatformIDs(0, null, &np), "clGetPlatformIDs");
            var platforms = new nint[np];
            fixed (nint* p = platforms) Check(Api.GetPlatformIDs(np, p, null), "clGetPlatformIDs");
            nint platform = platforms[info.PlatformIndex];
            uint nd;
            Check(Api.GetDeviceIDs(platform, DeviceType.All, 0, null, &nd), "clGetDeviceIDs");
            var devices = new nint[nd];
            fixed (nint* d = devices) Check(Api.GetDeviceIDs(platform, DeviceType.All, nd, d, null), "clGetDeviceIDs");
            return (platform, devices[info.DeviceIndex]);
        }

        private static OpenClOutside Over(nint platform, nint device, string name)
        {
            int err;
            nint* props = stackalloc nint[3] { 0x1084 /* CL_CONTEXT_PLATFORM */, platform, 0 };
            nint context = Api.CreateContext(props, 1, &device, null, null, &err);
            Check(err, "clCreateContext");
            nint queue = Api.CreateCommandQueue(context, device, CommandQueueProperties.None, &err);
            Check(err, "clCreateCommandQueue");
            try
            {
                return new OpenClOutside(context, queue, OpenClEngine.CreateOver(context, queue), name);
            }
            finally
            {
                // The engine retained both; the example's own references are not needed past this point.
                Api.ReleaseCommandQueue(queue);
                Api.ReleaseContext(context);
            }
        }

        public RnnBuffer<float> Create(float[] contents)
        {
            int err;
            nint mem;
            fixed (float* p = contents)
                mem = Api.CreateBuffer(_context, MemFlags.ReadWrite | MemFlags.CopyHostPtr, (nuint)Math.Max(contents.Length, 1) * sizeof(float), p, &err);
            Check(err, "clCreateBuffer");
            _mems.Add(mem);
            var view = _engine.Wrap<float>(mem, contents.Length);
            _where[view] = mem;
            return view;
        }

        public float[] Read(RnnBuffer<float> view)
        {
            var a = new float[view.Length];
            fixed (float* p = a)
                Check(Api.EnqueueReadBuffer(_queue, _where[view], true, 0, (nuint)a.Length * sizeof(float), p, 0, null, null), "clEnqueueReadBuffer");
            return a;
        }

        public void Dispose()
        {
            foreach (var m in _mems) Api.ReleaseMemObject(m);
            _mems.Clear();
            _engine.Dispose();   // releases the engine's references to the queue and the context, the last ones
        }

        private static void Check(int status, string call)
        {
            if (status != 0) throw new InvalidOperationException($"{call} failed with OpenCL status {status}");
        }
    }
}
