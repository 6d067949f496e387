using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace CudnnRnn.Distributed.Native;

/// <summary>An MPI call returned an error code; the message has MPI's own text (<c>MPI_Error_string</c>).</summary>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MpiException(int errorCode, string call, string message) : base(message)
    {
        ErrorCode = errorCode;
        Call = call;
    }

    /// <summary>The MPI error code.</summary>
    public int ErrorCode { get; }
    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }

    /// <summary>The one check every MPI call goes through.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfFailed(int code, [CallerArgumentExpression(nameof(code))] string call = "")
    {
        if (code != Mpi.MPI_SUCCESS) Throw(code, call);
    }

    [DoesNotReturn, StackTraceHidden, MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(int code, string call) => throw Create(code, call);

    /// <summary>Builds the exception (asks MPI for the error's text).</summary>
    public static MpiException Create(int code, string call)
    {
        string text = Mpi.ErrorString(code);
        return new MpiException(code, call, $"{call} failed: MPI error {code}{(text.Length > 0 ? $": {text}" : "")}");
    }
}
