using CudnnRnn.Interop;

namespace CudnnRnn.Cuda;

/// <summary>The two driver calls a context switch needs; an interface so the save/restore logic is tested without a GPU.</summary>
internal interface ICudaContextApi
{
    /// <summary><c>cuCtxGetCurrent</c>: CUresult, and the context bound to the calling thread (0 if none).</summary>
    int GetCurrent(out nint context);
    /// <summary><c>cuCtxSetCurrent</c>: CUresult.</summary>
    int SetCurrent(nint context);
}

/// <summary>The CUDA driver's own context calls.</summary>
internal sealed class DriverContextApi : ICudaContextApi
{
    public static readonly DriverContextApi Instance = new();
    public int GetCurrent(out nint context) => CudaDriver.cuCtxGetCurrent(out context);
    public int SetCurrent(nint context) => CudaDriver.cuCtxSetCurrent(context);
}

/// <summary>
/// Makes an engine's context current on the calling thread for the duration of one engine call and then restores the
/// context that was current before (which may be NULL), so an engine created in someone else's context (ILGPU's
/// <c>cuCtxCreate</c> context, a PyTorch primary context) never leaves the thread in a different state than it found it.
/// When the engine's context is already current, nothing is switched and nothing is restored (two driver calls saved).
/// <c>cuCtxSetCurrent</c> replaces the top of the thread's context stack, so a context pushed by the caller
/// (<c>cuCtxPushCurrent</c>) is the one restored, and its stack depth is unchanged.
/// </summary>
internal readonly struct CudaContextScope : IDisposable
{
    private readonly ICudaContextApi? _api;
    private readonly nint _previous;

    private CudaContextScope(ICudaContextApi api, nint previous)
    {
        _api = api;
        _previous = previous;
    }

    /// <summary>Whether entering switched contexts (so <see cref="Dispose"/> restores one).</summary>
    public bool Switched => _api is not null;

    /// <summary>Saves the current context and makes <paramref name="context"/> current if it is not already.</summary>
    public static CudaContextScope Enter(ICudaContextApi api, nint context)
    {
        int r = api.GetCurrent(out nint previous);
        if (r != 0) throw new CudaDriverException(r, "cuCtxGetCurrent(out previous)");
        if (previous == context) return default;
        r = api.SetCurrent(context);
        if (r != 0) throw new CudaDriverException(r, $"cuCtxSetCurrent(engine context 0x{context:x})");
        return new CudaContextScope(api, previous);
    }

    /// <summary>Restores the context that was current before <see cref="Enter"/> (no-op when nothing was switched).</summary>
    public void Dispose()
    {
        if (_api is null) return;
        int r = _api.SetCurrent(_previous);
        if (r != 0) throw new CudaDriverException(r, $"cuCtxSetCurrent(previous context 0x{_previous:x})");
    }
}
