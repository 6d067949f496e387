// Every [LibraryImport] in this assembly is blittable: int, enums, nint/nuint, pointers, blittable structs and SafeHandles
// only (STYLE.md §3), as in CudnnRnn.Interop. Disabling runtime marshalling makes the runtime refuse anything else.
[assembly: System.Runtime.CompilerServices.DisableRuntimeMarshalling]
