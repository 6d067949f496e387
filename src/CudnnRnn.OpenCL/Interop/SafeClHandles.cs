using System.Runtime.InteropServices;

namespace CudnnRnn.OpenCL.Interop;

/// <summary>
/// Owner of one OpenCL object (<c>cl_context</c>, <c>cl_command_queue</c>, <c>cl_program</c>, <c>cl_kernel</c>,
/// <c>cl_mem</c>). The matching <c>clRelease*</c> runs exactly once, from <see cref="SafeHandle.ReleaseHandle"/>, whether
/// the owner is disposed or finalized; disposing twice is harmless.
/// </summary>
internal abstract class SafeClHandle : SafeHandle
{
    protected SafeClHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a handle a <c>clCreate*</c> call returned.</summary>
    internal void Attach(nint value) => SetHandle(value);

    /// <summary>Creates the owner for <paramref name="value"/>.</summary>
    internal static THandle Own<THandle>(nint value) where THandle : SafeClHandle, new()
    {
        var h = new THandle();
        h.Attach(value);
        return h;
    }
}

internal sealed class SafeClContext : SafeClHandle
{
    protected override bool ReleaseHandle() => OpenClRuntime.Api.ReleaseContext(handle) == 0;
}

internal sealed class SafeClCommandQueue : SafeClHandle
{
    protected override bool ReleaseHandle() => OpenClRuntime.Api.ReleaseCommandQueue(handle) == 0;
}

internal sealed class SafeClProgram : SafeClHandle
{
    protected override bool ReleaseHandle() => OpenClRuntime.Api.ReleaseProgram(handle) == 0;
}

internal sealed class SafeClKernel : SafeClHandle
{
    protected override bool ReleaseHandle() => OpenClRuntime.Api.ReleaseKernel(handle) == 0;
}

internal sealed class SafeClMem : SafeClHandle
{
    private int _released;

    /// <summary>True once clReleaseMemObject has run (after the last reference is given back).</summary>
    internal bool IsReleased => Volatile.Read(ref _released) != 0;

    protected override bool ReleaseHandle()
    {
        Volatile.Write(ref _released, 1);
        return OpenClRuntime.Api.ReleaseMemObject(handle) == 0;
    }
}
