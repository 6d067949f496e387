using System.Runtime.InteropServices;

namespace CudnnRnn.Training;

/// <summary>
/// Writes a file so that readers see either the old file or the whole new one: the bytes go to a temporary file in
/// the same directory, which is flushed to disk, renamed over the destination, and then the directory itself is
/// synced (on Unix), so the rename survives a crash too.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> atomically with <paramref name="write"/>; on failure the temporary file is deleted and the destination is untouched.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        SyncDirectory(dir);
    }

    /// <summary>
    /// Makes a rename in <paramref name="directory"/> durable: opens the directory and fsyncs it (POSIX needs this for
    /// the directory entry to reach the disk). On Windows, where a directory cannot be opened this way and NTFS journals
    /// the rename, it does nothing. A file system that cannot sync directories (EINVAL) is accepted as it is.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Could not open directory {directory} to sync it: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }
        try
        {
            if (Fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                const int EINVAL = 22;
                if (errno != EINVAL)
                    throw new IOException($"Could not sync directory {directory}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
