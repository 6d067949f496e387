using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CudnnRnn.Interop;

/// <summary>
/// A cuDNN call returned a status other than success. The message names the call, the status decoded for the loaded
/// version, cuDNN's own <c>cudnnGetErrorString</c>, and on 9.x <c>cudnnGetLastErrorString</c>.
/// </summary>
public sealed class CudnnException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudnnException(int status, string statusName, string call, string message) : base(message)
    {
        Status = status;
        StatusName = statusName;
        Call = call;
    }

    /// <summary>The raw status code (its meaning depends on the cuDNN major version).</summary>
    public int Status { get; }
    /// <summary>The C name of the status for the loaded version.</summary>
    public string StatusName { get; }
    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }

    /// <summary>The one status check every cuDNN call goes through (STYLE.md §5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfFailed(cudnnStatus_t status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != cudnnStatus_t.CUDNN_STATUS_SUCCESS) Throw(status, call);
    }

    [DoesNotReturn, StackTraceHidden, MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(cudnnStatus_t status, string call) => throw Create((int)status, call);

    /// <summary>Builds the exception for <paramref name="status"/> (queries cuDNN's strings when the library is loaded).</summary>
    public static CudnnException Create(int status, string call)
    {
        string text = ErrorString(status);  // first: it binds cuDNN when it is installed, so the major below is known
        int major = SafeMajor();
        string name = CudnnStatus.GetName(status, major);
        string last = major >= 9 ? LastErrorString() : "";
        string msg = $"{call} failed: {name} ({status}){(text.Length > 0 ? $": {text}" : "")}" +
                     (last.Length > 0 ? $"{Environment.NewLine}cudnnGetLastErrorString: {last}" : "");
        return new CudnnException(status, name, call, msg);
    }

    private static int SafeMajor()
    {
        try { return CudaLibraries.LoadedCudnnMajor; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 0; }
    }

    private static unsafe string ErrorString(int status)
    {
        try
        {
            byte* p = Cudnn.cudnnGetErrorString((cudnnStatus_t)status); // library-owned string (ownership not stated, API.md §4)
            return p is null ? "" : Marshal.PtrToStringUTF8((nint)p) ?? "";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return ""; }
    }

    private static unsafe string LastErrorString()
    {
        try
        {
            const int size = 1024;
            byte* buf = stackalloc byte[size];
            buf[0] = 0;
            Cudnn.cudnnGetLastErrorString(buf, size); // 9.x only
            return Marshal.PtrToStringUTF8((nint)buf) ?? "";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return ""; }
    }
}

/// <summary>A CUDA runtime call returned an error. The message has <c>cudaGetErrorName</c> and <c>cudaGetErrorString</c>.</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaException(cudaError_t error, string errorName, string call, string message) : base(message)
    {
        Error = error;
        ErrorName = errorName;
        Call = call;
    }

    /// <summary>The runtime's error code.</summary>
    public cudaError_t Error { get; }
    /// <summary><c>cudaGetErrorName</c> of the code.</summary>
    public string ErrorName { get; }
    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }

    /// <summary>The one status check every CUDA runtime call goes through.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfFailed(cudaError_t error, [CallerArgumentExpression(nameof(error))] string call = "")
    {
        if (error != cudaError_t.cudaSuccess) Throw(error, call);
    }

    [DoesNotReturn, StackTraceHidden, MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(cudaError_t error, string call) => throw Create(error, call);

    /// <summary>Builds the exception (queries the runtime's strings when the library is loaded).</summary>
    public static unsafe CudaException Create(cudaError_t error, string call)
    {
        string name = Enum.IsDefined(error) ? error.ToString() : $"cudaError_t {(int)error}";
        string text = "";
        try
        {
            byte* n = Cudart.cudaGetErrorName(error);
            if (n is not null) name = Marshal.PtrToStringUTF8((nint)n) ?? name;
            byte* s = Cudart.cudaGetErrorString(error);
            if (s is not null) text = Marshal.PtrToStringUTF8((nint)s) ?? "";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        return new CudaException(error, name, call, $"{call} failed: {name} ({(int)error}){(text.Length > 0 ? $": {text}" : "")}");
    }
}
