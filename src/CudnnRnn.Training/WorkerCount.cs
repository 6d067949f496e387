namespace CudnnRnn.Training;

/// <summary>
/// How many data-parallel workers (threads, each with its own <see cref="TaggerWorker{T}"/> and RNN plans) an engine
/// may run. Training, evaluation and prediction all ask here, so no caller decides it from an engine's name.
/// </summary>
public static class WorkerCount
{
    /// <summary>
    /// The worker count for <paramref name="engine"/>: on a host-memory engine (<see cref="IRnnEngine.IsHostMemory"/>)
    /// <paramref name="requested"/>, or every core when it is 0; on a device engine (cuDNN, OpenCL) exactly one, because
    /// its one library handle or command queue must not be used by two threads at once (NVIDIA: a cuDNN handle is not
    /// thread-safe), and a GPU runs a whole batch in one call anyway.
    /// </summary>
    /// <param name="engine">The engine the workers run on.</param>
    /// <param name="requested">Workers asked for; 0 lets the engine decide.</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="requested"/> is negative, or above 1 on a device engine.
    /// </exception>
    public static int For(IRnnEngine engine, int requested = 0)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentOutOfRangeException.ThrowIfNegative(requested);
        if (engine.IsHostMemory) return requested > 0 ? requested : Environment.ProcessorCount;
        if (requested > 1)
            throw new ArgumentOutOfRangeException(nameof(requested), requested,
                $"The {engine.Name} engine runs one worker (its library handle must not be used by two threads at once); ask for 0 or 1 threads.");
        return 1;
    }
}
