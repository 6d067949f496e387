using CudnnRnn.OpenCL.Interop;
using Silk.NET.OpenCL;

namespace CudnnRnn.OpenCL;

/// <summary>
/// One <c>cl_kernel</c> owned by one plan (kernel arguments are per-object state, so kernels are never shared between
/// plans). Arguments are set in order through a small fluent builder, each status checked, then the kernel is enqueued.
/// </summary>
internal sealed unsafe class ClKernel : IDisposable
{
    private readonly OpenClEngine _engine;
    private readonly SafeClKernel _kernel;
    private uint _next;

    public ClKernel(OpenClEngine engine, SafeClProgram program, string name)
    {
        _engine = engine;
        Name = name;
        int err;
        byte[] n = System.Text.Encoding.ASCII.GetBytes(name + "\0");
        nint k;
        fixed (byte* p = n) k = engine.Api.CreateKernel(program.DangerousGetHandle(), p, &err);
        if (err != 0) throw new OpenClException(err, $"clCreateKernel(\"{name}\")");
        _kernel = SafeClHandle.Own<SafeClKernel>(k);
    }

    public string Name { get; }

    /// <summary>Starts setting arguments from index 0.</summary>
    public ClKernel Args()
    {
        _next = 0;
        return this;
    }

    public ClKernel Mem(nint mem) => Value(mem);

    public ClKernel Int(int v) => Value(v);

    public ClKernel Flag(bool v) => Value(v ? 1 : 0);

    public ClKernel Value<TValue>(TValue v) where TValue : unmanaged
    {
        int s = _engine.Api.SetKernelArg(_kernel.DangerousGetHandle(), _next, (nuint)sizeof(TValue), &v);
        if (s != 0) throw new OpenClException(s, $"clSetKernelArg({Name}, {_next})");
        _next++;
        return this;
    }

    /// <summary>
    /// Enqueues over a global range of (g0, g1) (the kernels guard their bounds), with the engine's fixed work-group
    /// shape, rounded up to whole groups. The shape is fixed on purpose: runtimes such as PoCL compile one specialization
    /// per (kernel, work-group size), so letting the runtime choose per launch would recompile for every data shape.
    /// Empty ranges do nothing.
    /// </summary>
    public void Run(long g0, long g1 = 1)
    {
        if (g1 == 1) RunGroups(g0, 1, _engine.LinearGroup, 1);
        else RunGroups(g0, g1, _engine.PlaneGroup.X, _engine.PlaneGroup.Y);
    }

    /// <summary>Enqueues with a fixed work-group (l0, l1); the global range is rounded up to whole groups.</summary>
    public void RunGroups(long g0, long g1, int l0, int l1)
    {
        if (g0 <= 0 || g1 <= 0) return;
        nuint* global = stackalloc nuint[2] { (nuint)RoundUp(g0, l0), (nuint)RoundUp(g1, l1) };
        nuint* local = stackalloc nuint[2] { (nuint)l0, (nuint)l1 };
        Enqueue(l1 == 1 && g1 == 1 ? 1u : 2u, global, local);
    }

    private void Enqueue(uint dims, nuint* global, nuint* local)
    {
        int s = _engine.Api.EnqueueNdrangeKernel(_engine.Queue, _kernel.DangerousGetHandle(), dims, null, global, local, 0, null, null);
        if (s != 0) throw new OpenClException(s, $"clEnqueueNDRangeKernel({Name})");
    }

    private static long RoundUp(long v, int m) => (v + m - 1) / m * m;

    public void Dispose() => _kernel.Dispose();
}
