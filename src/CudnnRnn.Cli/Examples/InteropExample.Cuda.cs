namespace CudnnRnn.Cli.Examples;

// The CUDA branch of `cudnnrnn example interop` (cudaMalloc through the raw interop, the caller's stream and context).
internal static partial class InteropExample
{
    /// <summary>Not here yet: reports so and fails.</summary>
    private static int RunCuda(string? device, bool ilgpu, ExampleOptions options)
    {
        _ = device;
        _ = ilgpu;
        options.Log.WriteLine("interop: the cuda interop path is provided by the cuda engine branch");
        options.Log.WriteLine("interop: 0 checks passed, 1 failed");
        return 1;
    }
}
