using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using CudnnRnn.Interop;
using Xunit;

namespace CudnnRnn.Cuda.Tests;

/// <summary>
/// Every [LibraryImport] in CudnnRnn.Interop against ../shared/cudnn/api.json (the contract): name, parameter count,
/// order and names, each parameter's size class and pointer-ness (and the pointee's for out/pointer parameters), enum
/// types by name, return types; every enum member and value, both ways; and that every function a training engine
/// needs is bound.
/// </summary>
public sealed class ContractTests
{
    /// <summary>api.json functions deliberately not bound, with the reason.</summary>
    public static readonly IReadOnlyDictionary<string, string> DeliberatelyUnbound = new Dictionary<string, string>
    {
        ["cudnnSetCallback"] = "API logging callback: not needed to train; needs a reverse-P/Invoke C-convention function pointer kept alive by us",
        ["cudnnGetCallback"] = "pairs with cudnnSetCallback, which is not bound",
        ["cudaEventCreate"] = "cudaEventCreateWithFlags (a runtime extra) is bound instead: the plans' events need no timing (cudaEventDisableTiming)",
        ["cudaEventElapsedTime"] = "the library times nothing with events (its events are created without timing)",
    };

    /// <summary>
    /// Imports bound beyond the contract, from cuda.h (api.json has no driver calls): naming a device, and the context and
    /// pointer calls that engines in the caller's current context and CudaEngine.Wrap need.
    /// </summary>
    public static readonly IReadOnlySet<string> ExtrasOutsideContract = new HashSet<string>
    {
        "cuInit", "cuDeviceGet", "cuDeviceGetName",
        "cuCtxGetCurrent", "cuCtxSetCurrent", "cuCtxGetDevice", "cuStreamGetCtx", "cuPointerGetAttribute", "cuMemGetAddressRange_v2",
    };

    /// <summary>
    /// CUDA runtime calls bound beyond api.json (the stream-ordered allocator, pinned host memory, cudaEventCreateWithFlags and cudaEventQuery; cudaEventRecord, cudaEventSynchronize and cudaEventDestroy are in api.json), with their prototypes
    /// from cuda_runtime_api.h (CUDA 12.x/13.x), so they are checked exactly like the contract's functions.
    /// </summary>
    internal static readonly IReadOnlyList<CFunction> RuntimeExtras =
    [
        new("cudaDeviceGetAttribute", CudaLibraries.CudartLibraryName, "cudaError_t", [("value", "int *"), ("attr", "enum cudaDeviceAttr"), ("device", "int")], "5.0", false),
        new("cudaMemPoolCreate", CudaLibraries.CudartLibraryName, "cudaError_t", [("memPool", "cudaMemPool_t *"), ("poolProps", "const struct cudaMemPoolProps *")], "11.2", false),
        new("cudaMemPoolDestroy", CudaLibraries.CudartLibraryName, "cudaError_t", [("memPool", "cudaMemPool_t")], "11.2", false),
        new("cudaMemPoolSetAttribute", CudaLibraries.CudartLibraryName, "cudaError_t", [("memPool", "cudaMemPool_t"), ("attr", "enum cudaMemPoolAttr"), ("value", "void *")], "11.2", false),
        new("cudaMemPoolGetAttribute", CudaLibraries.CudartLibraryName, "cudaError_t", [("memPool", "cudaMemPool_t"), ("attr", "enum cudaMemPoolAttr"), ("value", "void *")], "11.2", false),
        new("cudaMemPoolTrimTo", CudaLibraries.CudartLibraryName, "cudaError_t", [("memPool", "cudaMemPool_t"), ("minBytesToKeep", "size_t")], "11.2", false),
        new("cudaMallocFromPoolAsync", CudaLibraries.CudartLibraryName, "cudaError_t", [("ptr", "void **"), ("size", "size_t"), ("memPool", "cudaMemPool_t"), ("stream", "cudaStream_t")], "11.2", false),
        new("cudaFreeAsync", CudaLibraries.CudartLibraryName, "cudaError_t", [("devPtr", "void *"), ("hStream", "cudaStream_t")], "11.2", false),
        new("cudaMallocHost", CudaLibraries.CudartLibraryName, "cudaError_t", [("ptr", "void **"), ("size", "size_t")], "2.0", false),
        new("cudaFreeHost", CudaLibraries.CudartLibraryName, "cudaError_t", [("ptr", "void *")], "2.0", false),
        new("cudaEventCreateWithFlags", CudaLibraries.CudartLibraryName, "cudaError_t", [("event", "cudaEvent_t *"), ("flags", "unsigned int")], "2.0", false),
        new("cudaEventQuery", CudaLibraries.CudartLibraryName, "cudaError_t", [("event", "cudaEvent_t")], "2.0", false),
    ];

    /// <summary>Enum values of the runtime extras, from driver_types.h (the members we bind).</summary>
    internal static readonly IReadOnlyDictionary<Type, IReadOnlyDictionary<string, long>> RuntimeExtraEnums = new Dictionary<Type, IReadOnlyDictionary<string, long>>
    {
        [typeof(cudaDeviceAttr)] = new Dictionary<string, long>
        {
            ["cudaDevAttrMultiProcessorCount"] = 16,
            ["cudaDevAttrComputeCapabilityMajor"] = 75, ["cudaDevAttrComputeCapabilityMinor"] = 76, ["cudaDevAttrMemoryPoolsSupported"] = 115,
        },
        // Driver extras (cuda.h), for the context and pointer calls of CudaDriver.Context.cs.
        [typeof(CUpointer_attribute)] = new Dictionary<string, long>
        {
            ["CU_POINTER_ATTRIBUTE_CONTEXT"] = 1, ["CU_POINTER_ATTRIBUTE_MEMORY_TYPE"] = 2,
            ["CU_POINTER_ATTRIBUTE_IS_MANAGED"] = 8, ["CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL"] = 9,
        },
        [typeof(CUmemorytype)] = new Dictionary<string, long>
        {
            ["CU_MEMORYTYPE_HOST"] = 1, ["CU_MEMORYTYPE_DEVICE"] = 2, ["CU_MEMORYTYPE_ARRAY"] = 3, ["CU_MEMORYTYPE_UNIFIED"] = 4,
        },
        [typeof(cudaMemPoolAttr)] = new Dictionary<string, long>
        {
            ["cudaMemPoolReuseFollowEventDependencies"] = 1, ["cudaMemPoolReuseAllowOpportunistic"] = 2,
            ["cudaMemPoolReuseAllowInternalDependencies"] = 3, ["cudaMemPoolAttrReleaseThreshold"] = 4,
            ["cudaMemPoolAttrReservedMemCurrent"] = 5, ["cudaMemPoolAttrReservedMemHigh"] = 6,
            ["cudaMemPoolAttrUsedMemCurrent"] = 7, ["cudaMemPoolAttrUsedMemHigh"] = 8,
        },
    };

    public enum Kind { Pointer, SizeT, Int32, Float, Double, UInt64, Char, Void, Any }

    internal sealed record CFunction(string Name, string Library, string Returns, IReadOnlyList<(string Name, string CType)> Params, string? Since, bool RemovedInV9);

    internal static IReadOnlyDictionary<string, CFunction> ContractFunctions()
    {
        var d = new Dictionary<string, CFunction>();
        void Add(JsonElement list, string lib)
        {
            foreach (var f in list.EnumerateArray())
            {
                var ps = f.GetProperty("params").EnumerateArray().Select(p => (p.GetProperty("name").GetString()!, p.GetProperty("ctype").GetString()!)).ToList();
                d.Add(f.GetProperty("name").GetString()!, new CFunction(f.GetProperty("name").GetString()!, lib, f.GetProperty("returns").GetString()!, ps,
                    f.TryGetProperty("since", out var s) ? s.GetString() : null, f.TryGetProperty("removedIn", out _)));
            }
        }
        Add(SharedFiles.Api.GetProperty("functions"), CudaLibraries.CudnnLibraryName);
        Add(SharedFiles.Api.GetProperty("cudaRuntime").GetProperty("functions"), CudaLibraries.CudartLibraryName);
        foreach (var f in RuntimeExtras) d.Add(f.Name, f);
        return d;
    }

    internal static IReadOnlyList<(MethodInfo Method, LibraryImportAttribute Import)> Imports() =>
        typeof(Cudnn).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(m => (m, m.GetCustomAttribute<LibraryImportAttribute>()))
            .Where(x => x.Item2 is not null)
            .Select(x => (x.m, x.Item2!))
            .OrderBy(x => x.m.Name, StringComparer.Ordinal)
            .ToList();

    private static readonly HashSet<string> s_pointerTypedefs = ["cudaStream_t", "cudaEvent_t", "cudnnCallback_t", "cudaMemPool_t"];

    private static string Strip(string ctype) => ctype.Replace("const ", "").Replace("enum ", "").Replace("struct ", "").Trim();

    internal static Kind CKind(string ctype)
    {
        string t = Strip(ctype);
        if (t.Contains('*') || t.EndsWith("[]", StringComparison.Ordinal)) return Kind.Pointer;
        if (SharedFiles.Api.GetProperty("opaqueTypes").TryGetProperty(t, out _) || s_pointerTypedefs.Contains(t)) return Kind.Pointer;
        return t switch
        {
            "size_t" => Kind.SizeT,
            "float" => Kind.Float,
            "double" => Kind.Double,
            "unsigned long long" => Kind.UInt64,
            "void" => Kind.Void,
            "char" => Kind.Char,
            _ => Kind.Int32, // int, int32_t, uint32_t, unsigned, and every C enum
        };
    }

    /// <summary>The pointee of a pointer C type ("size_t *" → size_t; "const int []" → int; "void *" → Any).</summary>
    internal static (Kind Kind, string Type) CPointee(string ctype)
    {
        string t = Strip(ctype);
        string inner = t.EndsWith("[]", StringComparison.Ordinal) ? t[..^2].Trim() : t[..t.LastIndexOf('*')].Trim();
        return inner == "void" ? (Kind.Any, inner) : (CKind(inner), inner);
    }

    internal static Kind NetKind(Type t)
    {
        if (t.IsByRef || t.IsPointer || t.IsFunctionPointer || t == typeof(nint) || typeof(SafeHandle).IsAssignableFrom(t)) return Kind.Pointer;
        if (t == typeof(nuint)) return Kind.SizeT;
        if (t == typeof(void)) return Kind.Void;
        if (t == typeof(float)) return Kind.Float;
        if (t == typeof(double)) return Kind.Double;
        if (t == typeof(ulong)) return Kind.UInt64;
        if (t == typeof(byte) || t == typeof(sbyte)) return Kind.Char;
        if (t == typeof(int) || t == typeof(uint) || (t.IsEnum && Marshal.SizeOf(Enum.GetUnderlyingType(t)) == 4)) return Kind.Int32;
        throw new Xunit.Sdk.XunitException($"Type {t} is not allowed in a binding (int, enums, nint/nuint, pointers, SafeHandles, float/double/ulong only).");
    }

    private static Type? NetPointee(Type t) => t.IsByRef || t.IsPointer ? t.GetElementType() : null;

    private static readonly HashSet<string> s_enumNames = SharedFiles.Api.GetProperty("enums").EnumerateArray()
        .Select(e => e.GetProperty("name").GetString()!).Concat(["cudaError_t", "cudaMemcpyKind", "cudaDeviceAttr", "cudaMemPoolAttr"]).ToHashSet();

    private static List<string> CompareType(string where, string ctype, Type net)
    {
        var errors = new List<string>();
        Kind c = CKind(ctype), n = NetKind(net);
        if (c != n) errors.Add($"{where}: C '{ctype}' is {c}, the binding's {net} is {n}");
        string plain = Strip(ctype);
        if (c == Kind.Int32 && s_enumNames.Contains(plain) && net.Name != plain)
            errors.Add($"{where}: C enum '{plain}' bound as {net.Name}; expected the C# enum of the same name");
        if (c == Kind.Pointer && NetPointee(net) is { } pointee)
        {
            var (pk, ptype) = CPointee(ctype);
            bool boundStruct = pointee.IsValueType && !pointee.IsPrimitive && !pointee.IsEnum && pointee != typeof(void);
            if (boundStruct)
            {
                // A C struct passed by pointer is bound as a blittable struct of the same name.
                if (pointee.Name != ptype) errors.Add($"{where}: C '{ctype}' points to struct {ptype}, the binding points to {pointee.Name}");
            }
            else if (pk != Kind.Any)
            {
                Kind np = pointee == typeof(void) ? Kind.Void : NetKind(pointee);
                if (np != pk) errors.Add($"{where}: C '{ctype}' points to {pk}, the binding's {net} points to {np}");
                if (pk == Kind.Int32 && s_enumNames.Contains(ptype) && pointee.Name != ptype)
                    errors.Add($"{where}: C '{ctype}' points to enum {ptype}, the binding points to {pointee.Name}");
            }
        }
        return errors;
    }

    [Fact]
    public void Every_import_matches_its_prototype_in_api_json()
    {
        var contract = ContractFunctions();
        var imports = Imports();
        Assert.NotEmpty(imports);
        var errors = new List<string>();
        foreach (var (m, import) in imports)
        {
            if (ExtrasOutsideContract.Contains(m.Name))
            {
                if (import.LibraryName != CudaLibraries.DriverLibraryName) errors.Add($"{m.Name}: extra outside the contract must come from the driver library");
                continue;
            }
            if (!contract.TryGetValue(m.Name, out var f))
            {
                errors.Add($"{m.Name}: not in api.json (and not a documented extra)");
                continue;
            }
            if (import.LibraryName != f.Library) errors.Add($"{m.Name}: imported from '{import.LibraryName}', expected '{f.Library}'");
            if (import.EntryPoint is not null && import.EntryPoint != m.Name) errors.Add($"{m.Name}: EntryPoint {import.EntryPoint} differs from the C name");
            var ps = m.GetParameters();
            if (ps.Length != f.Params.Count)
            {
                errors.Add($"{m.Name}: {ps.Length} parameters, api.json has {f.Params.Count} ({string.Join(", ", f.Params.Select(p => p.Name))})");
                continue;
            }
            for (int i = 0; i < ps.Length; i++)
            {
                if (ps[i].Name != f.Params[i].Name)
                    errors.Add($"{m.Name}: parameter {i} is '{ps[i].Name}', api.json has '{f.Params[i].Name}' (order or name differs)");
                errors.AddRange(CompareType($"{m.Name}({f.Params[i].Name})", f.Params[i].CType, ps[i].ParameterType));
            }
            errors.AddRange(CompareType($"{m.Name} return", f.Returns, m.ReturnType));
        }
        Assert.True(errors.Count == 0, "Binding/contract mismatches:\n" + string.Join("\n", errors));
    }

    [Fact]
    public void Every_contract_function_a_training_engine_needs_is_bound()
    {
        var bound = Imports().Select(x => x.Method.Name).ToHashSet();
        var missing = ContractFunctions().Keys.Where(n => !bound.Contains(n) && !DeliberatelyUnbound.ContainsKey(n)).ToList();
        Assert.True(missing.Count == 0, "api.json functions with no binding and no documented reason: " + string.Join(", ", missing));
        // A documented omission that got bound later must leave the list.
        Assert.All(DeliberatelyUnbound.Keys, k => Assert.DoesNotContain(k, bound));
        Assert.All(DeliberatelyUnbound.Keys, k => Assert.True(ContractFunctions().ContainsKey(k), $"{k} is listed as unbound but is not in api.json"));
    }

    [Theory]
    [InlineData("size_t", Kind.SizeT)]
    [InlineData("size_t *", Kind.Pointer)]
    [InlineData("cudnnHandle_t", Kind.Pointer)]
    [InlineData("cudaStream_t", Kind.Pointer)]
    [InlineData("const int32_t []", Kind.Pointer)]
    [InlineData("int32_t", Kind.Int32)]
    [InlineData("enum cudaMemcpyKind", Kind.Int32)]
    [InlineData("unsigned long long", Kind.UInt64)]
    public void The_contract_classifier_reads_C_types(string ctype, Kind expected) => Assert.Equal(expected, CKind(ctype));

    [Fact]
    public void The_type_comparison_catches_the_binding_mistakes_seen_in_the_wild()
    {
        // size_t* bound as out int (4 bytes written into an 8-byte slot) and size_t as int: both must be reported.
        Assert.NotEmpty(CompareType("f(size)", "size_t *", typeof(int).MakeByRefType()));
        Assert.NotEmpty(CompareType("f(size)", "size_t", typeof(int)));
        // void** (host variable receiving a device address) bound by value, as ManagedCuda did.
        Assert.NotEmpty(CompareType("f(mAddr)", "void **", typeof(ulong)));
        // An enum parameter bound as another enum of the same size.
        Assert.NotEmpty(CompareType("f(mode)", "cudnnRNNMode_t", typeof(cudnnDirectionMode_t)));
        // A struct pointer bound to another struct (cudaMemPoolCreate's props).
        Assert.NotEmpty(CompareType("f(props)", "const struct cudaMemPoolProps *", typeof(Guid).MakePointerType()));
        Assert.Empty(CompareType("f(props)", "const struct cudaMemPoolProps *", typeof(cudaMemPoolProps).MakePointerType()));
        // And the correct forms pass.
        Assert.Empty(CompareType("f(size)", "size_t *", typeof(nuint).MakeByRefType()));
        Assert.Empty(CompareType("f(mAddr)", "void **", typeof(nint).MakeByRefType()));
        Assert.Empty(CompareType("f(h)", "cudnnHandle_t *", typeof(SafeCudnnHandle).MakeByRefType()));
    }

    private static Dictionary<string, long> NetMembers(Type t) =>
        t.IsEnum
            ? t.GetFields(BindingFlags.Public | BindingFlags.Static).ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue()))
            : t.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue()));

    private static Dictionary<string, long> JsonMembers(JsonElement values) =>
        values.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());

    private static void AssertSameMembers(string what, Dictionary<string, long> expected, Dictionary<string, long> actual, bool exact = true)
    {
        var errors = new List<string>();
        foreach (var (name, value) in expected)
        {
            if (!actual.TryGetValue(name, out long v)) errors.Add($"{what}: missing {name} = {value}");
            else if (v != value) errors.Add($"{what}: {name} is {v}, api.json says {value}");
        }
        if (exact)
            foreach (var name in actual.Keys.Where(k => !expected.ContainsKey(k)))
                errors.Add($"{what}: {name} is not in api.json");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    private static Type InteropType(string name) =>
        typeof(Cudnn).Assembly.GetType("CudnnRnn.Interop." + name) ?? throw new Xunit.Sdk.XunitException($"No type CudnnRnn.Interop.{name}");

    [Fact]
    public void Every_enum_value_equals_api_json_both_ways()
    {
        var covered = new HashSet<Type>();
        foreach (var e in SharedFiles.Api.GetProperty("enums").EnumerateArray())
        {
            string name = e.GetProperty("name").GetString()!;
            if (e.GetProperty("kind").GetString() == "define")
            {
                AssertSameMembers(name, JsonMembers(e.GetProperty("values")), NetMembers(typeof(CudnnConstants)), exact: false);
                continue;
            }
            var t = InteropType(name);
            covered.Add(t);
            Assert.Equal(typeof(int), Enum.GetUnderlyingType(t));
            AssertSameMembers(name, JsonMembers(e.GetProperty("values")), NetMembers(t));
            if (e.TryGetProperty("valuesV8", out var v8))
            {
                if (name == "cudnnStatus_t")
                {
                    covered.Add(typeof(cudnnStatus_v8_t));
                    AssertSameMembers("cudnnStatus_t (8.x) as cudnnStatus_v8_t", JsonMembers(v8), NetMembers(typeof(cudnnStatus_v8_t)));
                }
                else
                {
                    AssertSameMembers(name + " (8.x values)", JsonMembers(v8), NetMembers(t), exact: false);
                }
            }
        }
        var cuda = SharedFiles.Api.GetProperty("cudaRuntime");
        AssertSameMembers("cudaError_t", JsonMembers(cuda.GetProperty("cudaError_t")), NetMembers(typeof(cudaError_t)));
        AssertSameMembers("cudaMemcpyKind", JsonMembers(cuda.GetProperty("cudaMemcpyKind")), NetMembers(typeof(cudaMemcpyKind)));
        AssertSameMembers("cudaRuntime flags", JsonMembers(cuda.GetProperty("flags")), NetMembers(typeof(CudartConstants)));
        covered.Add(typeof(cudaError_t));
        covered.Add(typeof(cudaMemcpyKind));
        foreach (var (t, values) in RuntimeExtraEnums)
        {
            AssertSameMembers(t.Name + " (driver_types.h)", values.ToDictionary(), NetMembers(t));
            covered.Add(t);
        }
        var constants = SharedFiles.Api.GetProperty("constants");
        foreach (string c in new[] { "CUDNN_DIM_MAX", "CUDNN_SEV_ERROR_EN", "CUDNN_SEV_WARNING_EN", "CUDNN_SEV_INFO_EN" })
            Assert.Equal(constants.GetProperty(c).GetInt64(), NetMembers(typeof(CudnnConstants))[c]);

        // No binding enum that the contract does not know (CudaHandleKind is ours, not a C enum).
        var uncovered = typeof(Cudnn).Assembly.GetTypes()
            .Where(t => t.IsEnum && t.IsPublic && t != typeof(CudaHandleKind) && !covered.Contains(t)).Select(t => t.Name).ToList();
        Assert.True(uncovered.Count == 0, "Enums not checked against api.json: " + string.Join(", ", uncovered));
    }

    [Fact]
    public void Binding_files_name_their_header()
    {
        string? root = SharedFiles.RepoRoot;
        if (root is null && SharedFiles.InBundle) Assert.Skip("reads the binding sources, which the GPU bundle does not carry (runs in CI)");
        Assert.NotNull(root);
        var files = Directory.GetFiles(Path.Combine(root!, "interop", "CudnnRnn.Interop"), "*.cs")
            .Where(f => File.ReadAllText(f).Contains("[LibraryImport(", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.StartsWith("// Provenance:", File.ReadAllText(f), StringComparison.Ordinal));
    }
}
