using System.Reflection;

namespace CudnnRnn.Interop;

/// <summary>
/// Decodes a <c>cudnnStatus_t</c> code with the numbering of the loaded library's major version: cuDNN 9 renumbered
/// every status, so 3 is BAD_PARAM under 8.x and nothing under 9.x, and 2000 is BAD_PARAM under 9.x.
/// </summary>
public static class CudnnStatus
{
    private static readonly Dictionary<int, string> s_v9 = Table(typeof(cudnnStatus_t));
    private static readonly Dictionary<int, string> s_v8 = Table(typeof(cudnnStatus_v8_t));

    // First declared name wins, so the 9.x deprecated aliases (ALLOC_FAILED = 4003, ...) never hide the current names.
    private static Dictionary<int, string> Table(Type enumType)
    {
        var d = new Dictionary<int, string>();
        foreach (var f in enumType.GetFields(BindingFlags.Public | BindingFlags.Static).OrderBy(f => f.MetadataToken))
            d.TryAdd((int)f.GetRawConstantValue()!, f.Name);
        return d;
    }

    /// <summary>
    /// The C name of <paramref name="code"/> under cuDNN <paramref name="cudnnMajor"/> (8 or 9). With 0 (version not known)
    /// both readings are given. Unknown codes come back as "unknown cudnnStatus_t N"; 9.x codes outside the table
    /// are named by their category (<c>CUDNN_STATUS_CATEGORY(c) = c/1000*1000</c>).
    /// </summary>
    public static string GetName(int code, int cudnnMajor)
    {
        if (code == 0) return "CUDNN_STATUS_SUCCESS";
        if (cudnnMajor >= 9) return V9(code);
        if (cudnnMajor is > 0 and < 9) return s_v8.TryGetValue(code, out var n8) ? n8 : $"unknown cuDNN 8 cudnnStatus_t {code}";
        return $"{V9(code)} if cuDNN 9 / {(s_v8.TryGetValue(code, out var n) ? n : "unknown")} if cuDNN 8";
    }

    private static string V9(int code)
    {
        if (s_v9.TryGetValue(code, out var n)) return n;
        return code >= 1000 && s_v9.TryGetValue(code / 1000 * 1000, out var cat) ? $"{cat} (specific error {code % 1000})" : $"unknown cuDNN 9 cudnnStatus_t {code}";
    }
}
