using System.Runtime.InteropServices;

namespace SafeCkpt.IO;

/// <summary>
/// Makes a folder's entries durable: fsync(2) on the folder itself, so a file created, renamed or deleted in it
/// survives a power loss. .NET has no API for it. On Windows (NTFS journals its metadata) and where the call is
/// missing it does nothing.
/// </summary>
internal static partial class DirectorySync
{
    /// <summary>Flushes the entries of <paramref name="folder"/> to disk; errors are ignored (a file system that cannot sync a folder has nothing more to offer).</summary>
    public static void Flush(string folder)
    {
        if (OperatingSystem.IsWindows() || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
        {
            return;
        }

        try
        {
            // O_RDONLY | O_CLOEXEC (Linux and macOS spell O_CLOEXEC differently); a folder opens read-only without O_DIRECTORY.
            int fd = Open(folder, OperatingSystem.IsMacOS() ? 0x1000000 : 0x80000);
            if (fd < 0)
            {
                return;
            }

            _ = FSync(fd);
            _ = Close(fd);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
