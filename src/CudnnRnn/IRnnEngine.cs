using System.Numerics;

namespace CudnnRnn;

/// <summary>
/// An engine that runs the RNN computations: the CPU reference (<c>CpuEngine</c>), cuDNN, or OpenCL. Every engine
/// computes the same thing with the same descriptors, layouts and weight naming; only where memory lives differs.
/// </summary>
public interface IRnnEngine : IDisposable
{
    /// <summary>Short name: "cpu", "cuda" or "opencl".</summary>
    string Name { get; }

    /// <summary>What runs the computation (processor, GPU name, OpenCL device).</summary>
    string DeviceDescription { get; }

    /// <summary>
    /// True when buffers are host arrays and plans compute synchronously on the calling thread (the CPU engine): plans
    /// of one engine may then run on several threads at once, one plan per thread. False for device engines (cuDNN,
    /// OpenCL), whose one library handle or command queue must not be used by two threads at once (NVIDIA: a cuDNN
    /// handle is not thread-safe); callers that parallelise give such an engine one worker. The default is false, the
    /// safe answer for an engine that does not say.
    /// </summary>
    bool IsHostMemory => false;

    /// <summary>Whether this engine can compute in <paramref name="dataType"/> (OpenCL float64 needs cl_khr_fp64).</summary>
    bool Supports(RnnDataType dataType, out string? reason);

    /// <summary>Allocates a zero-filled buffer of <paramref name="length"/> elements in this engine's memory.</summary>
    RnnBuffer<T> Allocate<T>(long length) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>The weight-space layout this engine uses for <paramref name="rnn"/>.</summary>
    RnnWeightLayout GetWeightLayout(RnnDescriptor rnn);

    /// <summary>
    /// Prepares everything a network needs for one data shape (descriptors, workspace) so that forward and backward calls
    /// allocate nothing. <typeparamref name="T"/> must match <see cref="RnnDescriptor.DataType"/> and
    /// <paramref name="xDesc"/>.VectorSize must equal the input size.
    /// </summary>
    RnnPlan<T> CreatePlan<T>(RnnDescriptor rnn, RnnDataDescriptor xDesc) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Waits until every computation this engine has queued has finished. Plan calls on a GPU engine return once the work
    /// is queued, so a timer must call this before reading the clock; buffer reads already wait. The CPU engine computes
    /// synchronously, so the default does nothing.
    /// </summary>
    void Synchronize() { }
}

/// <summary>Thrown when an engine cannot run here (library missing, no driver, no device, no platform).</summary>
public sealed class RnnEngineUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RnnEngineUnavailableException(string engine, string reason, Exception? inner = null)
        : base($"The {engine} engine is unavailable: {reason}", inner)
    {
        Engine = engine;
        Reason = reason;
    }

    /// <summary>The engine's short name.</summary>
    public string Engine { get; }
    /// <summary>Why it is unavailable.</summary>
    public string Reason { get; }
}
