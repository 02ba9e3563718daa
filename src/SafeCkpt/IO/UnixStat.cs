using System.Runtime.InteropServices;

namespace SafeCkpt.IO;

/// <summary>
/// open(2) with O_NONBLOCK (a FIFO must not block the call) and fstat(2) on Linux (x64, arm64) and macOS: the
/// fields of <c>struct stat</c> that .NET does not expose whole (device and inode, the modification time to the
/// nanosecond).
/// </summary>
internal static unsafe partial class UnixStat
{
    private const int ORdonly = 0;

    /// <summary>Whether the struct stat layout of this platform is known (see <see cref="TryRead"/>).</summary>
    public static bool Supported =>
        (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    private static int Flags => OperatingSystem.IsMacOS()
        ? ORdonly | 0x4 | 0x1000000 // O_NONBLOCK | O_CLOEXEC
        : ORdonly | 0x800 | 0x80000; // O_NONBLOCK | O_CLOEXEC, the same on x64 and arm64

    /// <summary>
    /// Reads the status of the file or folder at <paramref name="path"/> (symlinks followed); false when nothing is
    /// there or it cannot be opened. Throws <see cref="EntryPointNotFoundException"/> or <see cref="DllNotFoundException"/>
    /// where the C library lacks the calls (glibc before 2.33 exports no <c>fstat</c>).
    /// </summary>
    public static bool TryRead(string path, out Fields fields)
    {
        fields = default;
        int fd = Open(path, Flags);
        if (fd < 0)
        {
            return false;
        }

        try
        {
            // struct stat is 144 bytes on x64 and macOS, 128 on arm64 Linux; the buffer leaves room for any.
            byte* st = stackalloc byte[512];
            int rc = OperatingSystem.IsMacOS() && RuntimeInformation.ProcessArchitecture == Architecture.X64 ? FStatInode64(fd, st) : FStat(fd, st);
            if (rc != 0)
            {
                return false;
            }

            // Linux x64 and arm64 (glibc >= 2.33, musl) share these offsets: st_dev 0, st_ino 8, st_size 48, st_mtim 88
            // (seconds, then nanoseconds at 96). macOS: st_dev is 4 bytes at 0, st_ino 8, st_mtimespec 48 (nanoseconds
            // at 56), st_size 96.
            fields = OperatingSystem.IsMacOS()
                ? new Fields(*(uint*)st, *(ulong*)(st + 8), *(long*)(st + 96), *(long*)(st + 48), *(long*)(st + 56))
                : new Fields(*(ulong*)st, *(ulong*)(st + 8), *(long*)(st + 48), *(long*)(st + 88), *(long*)(st + 96));
            return true;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int FStat(int fd, byte* buffer);

    /// <summary>macOS on x64 keeps <c>fstat</c> for the old 32-bit inode layout; the 64-bit one has this name.</summary>
    [LibraryImport("libc", EntryPoint = "fstat$INODE64", SetLastError = true)]
    private static partial int FStatInode64(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    /// <summary>The fields read: device and inode, size, and the modification time (seconds and nanoseconds since 1970).</summary>
    internal readonly record struct Fields(ulong Device, ulong Inode, long Size, long ModifiedSeconds, long ModifiedNanoseconds);
}
