using System.Numerics;
using CudnnRnn.OpenCL.Interop;

namespace CudnnRnn.OpenCL;

/// <summary>
/// The engine's optimizer kernels for one element type (native/opencl/optimizer.cl): in-place SGD and Adam updates and
/// the finiteness checks the training toolkit's optimizers need. Built on first use. Kernel arguments are per-object
/// state, so every call holds the lock from setting arguments to reading the result.
/// </summary>
internal sealed unsafe class OpenClOptimizerKernels<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private const string SourceName = "optimizer.cl";
    private readonly OpenClEngine _engine;
    private readonly SafeClProgram _program;
    private readonly ClKernel _firstNonFinite, _scale, _sgd, _adam;
    private readonly SafeClMem _flags; // two ints, see optimizer.cl
    private readonly Lock _lock = new();

    public OpenClOptimizerKernels(OpenClEngine engine)
    {
        _engine = engine;
        bool f64 = typeof(T) == typeof(double);
        _program = engine.BuildProgram(Source.Value, "-cl-std=CL1.2 " + (f64 ? "-DREAL=double -DUSE_FP64" : "-DREAL=float"));
        var owned = new List<IDisposable> { _program };
        try
        {
            ClKernel K(string name) { var k = new ClKernel(engine, _program, name); owned.Add(k); return k; }
            _firstNonFinite = K("first_nonfinite");
            _scale = K("scale_values");
            _sgd = K("sgd_step");
            _adam = K("adam_step");
            _flags = engine.CreateMemory(2 * sizeof(int));
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
            throw;
        }
    }

    private static readonly Lazy<string> Source = new(() =>
    {
        using var s = typeof(OpenClEngine).Assembly.GetManifestResourceStream(SourceName)
            ?? throw new InvalidOperationException($"The embedded kernel source '{SourceName}' is missing from {typeof(OpenClEngine).Assembly.GetName().Name}.");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    });

    public long IndexOfNonFinite(OpenClBuffer<T> x)
    {
        lock (_lock)
        {
            SetFlags(int.MaxValue, 0); // the kernel lowers the first int to the smallest non-finite index
            _firstNonFinite.Args().Int(N(x)).Mem(x.Handle).Mem(_flags.DangerousGetHandle());
            _firstNonFinite.Run(N(x));
            var (first, _) = ReadFlags();
            return first == int.MaxValue ? -1 : first;
        }
    }

    public void Scale(OpenClBuffer<T> x, T scale)
    {
        lock (_lock)
        {
            _scale.Args().Int(N(x)).Mem(x.Handle).Value(scale);
            _scale.Run(N(x));
            _engine.Finish();
        }
    }

    public ParameterUpdateCheck Sgd(OpenClBuffer<T> w, OpenClBuffer<T> g, OpenClBuffer<T>? velocity, T lr, T momentum, T weightDecay)
    {
        lock (_lock)
        {
            SetFlags(0, int.MaxValue);
            _sgd.Args().Int(N(w)).Mem(w.Handle).Mem(g.Handle).Mem(velocity?.Handle ?? 0).Flag(velocity is not null).Flag(weightDecay != T.Zero)
                .Value(-lr).Value(momentum).Value(weightDecay).Mem(_flags.DangerousGetHandle());
            _sgd.Run(N(w));
            return Check(ReadFlags());
        }
    }

    public ParameterUpdateCheck Adam(OpenClBuffer<T> w, OpenClBuffer<T> g, OpenClBuffer<T> m, OpenClBuffer<T> v, AdamCoefficients<T> c)
    {
        lock (_lock)
        {
            SetFlags(0, int.MaxValue);
            _adam.Args().Int(N(w)).Mem(w.Handle).Mem(g.Handle).Mem(m.Handle).Mem(v.Handle).Flag(c.WeightDecay != T.Zero)
                .Value(c.Beta1).Value(c.Beta2).Value(c.OneMinusBeta1).Value(c.OneMinusBeta2).Value(c.StepSize).Value(c.InvSqrtC2)
                .Value(c.Epsilon).Value(c.WeightDecay).Mem(_flags.DangerousGetHandle());
            _adam.Run(N(w));
            return Check(ReadFlags());
        }
    }

    private static ParameterUpdateCheck Check((int Before, int After) f) => new(f.Before != 0, f.After == int.MaxValue ? -1 : f.After);

    private static int N(OpenClBuffer<T> b) => checked((int)b.Length);

    private void SetFlags(int a, int b)
    {
        int* f = stackalloc int[2] { a, b };
        long covered = _engine.BeginSynchronizingCall();   // a blocking write: counted like every host wait of the engine
        OpenClException.ThrowIfFailed(_engine.Api.EnqueueWriteBuffer(_engine.Queue, _flags.DangerousGetHandle(), true, 0, 2 * sizeof(int), f, 0, null, null));
        _engine.EndSynchronizingCall(covered);
        _engine.CountHostTransfer();
    }

    private (int, int) ReadFlags()
    {
        int* f = stackalloc int[2];
        long covered = _engine.BeginSynchronizingCall();
        OpenClException.ThrowIfFailed(_engine.Api.EnqueueReadBuffer(_engine.Queue, _flags.DangerousGetHandle(), true, 0, 2 * sizeof(int), f, 0, null, null));
        _engine.EndSynchronizingCall(covered);
        _engine.CountHostTransfer();
        return (f[0], f[1]);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _adam?.Dispose();
            _sgd?.Dispose();
            _scale?.Dispose();
            _firstNonFinite?.Dispose();
            _flags?.Dispose();
            _program.Dispose();
        }
    }
}
