// Every [LibraryImport] in this assembly is blittable: int, enums, nint/nuint, pointers and SafeHandles only
// (../shared/STYLE.md §3). Disabling runtime marshalling makes the runtime refuse anything else at run time, and the
// source generator emits the SafeHandle marshalling (AddRef/Release, out-handle creation) itself.
[assembly: System.Runtime.CompilerServices.DisableRuntimeMarshalling]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("CudnnRnn.Cuda")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("CudnnRnn.Cuda.Tests")]
