using System.Runtime.InteropServices;

namespace CudnnRnn.Cuda;

/// <summary>
/// A reference (<see cref="SafeHandle.DangerousAddRef"/>) on each of a few SafeHandles, itself owned by a SafeHandle: the
/// references are given back (<see cref="SafeHandle.DangerousRelease"/>, in order) when the lease is disposed or, if its
/// owner is abandoned without Dispose, when the runtime finalizes the lease (SafeHandle finalizers are critical, so they
/// run even when the owner's finalizer would not). A CUDA buffer or plan holds one on its engine's cuDNN handle and
/// stream, so an engine disposed first stays usable by them, and one never disposed no longer pins the engine forever.
/// </summary>
internal sealed class SafeHandleLease : SafeHandle
{
    private readonly SafeHandle[] _held;

    /// <summary>Takes a reference on every handle, in order; on failure gives back those already taken and throws.</summary>
    public SafeHandleLease(params SafeHandle[] handles) : base(0, ownsHandle: true)
    {
        _held = new SafeHandle[handles.Length];
        int n = 0;
        try
        {
            foreach (var h in handles)
            {
                bool added = false;
                h.DangerousAddRef(ref added); // throws ObjectDisposedException when h is already closed
                _held[n++] = h;
            }
        }
        catch
        {
            for (int i = n - 1; i >= 0; i--) _held[i].DangerousRelease();
            throw;
        }
        SetHandle(1); // valid: ReleaseHandle will run once
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        foreach (var h in _held) h.DangerousRelease();
        return true;
    }
}
