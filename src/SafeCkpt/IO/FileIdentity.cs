using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SafeCkpt.IO;

/// <summary>
/// What a file or folder is, independent of the path that reaches it: (device, inode) on Linux and macOS, (volume
/// serial, file index) on Windows. Two paths with the same identity are the same file, whether through a symlinked
/// folder, a hard link, a bind mount or a differently cased name. Where the native call is unavailable,
/// <see cref="SameFile"/> falls back to comparing fully resolved paths (<see cref="ResolvePath"/>).
/// </summary>
internal readonly partial record struct FileIdentity(ulong Device, ulong Index)
{
    /// <summary>How paths compare on this platform's usual file systems.</summary>
    public static StringComparison PathComparison { get; } = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>Whether the native call works here; cleared the first time it turns out to be missing.</summary>
    private static bool s_nativeAvailable = OperatingSystem.IsWindows() || Unix.Supported;

    /// <summary>
    /// The identity of the file or folder at <paramref name="path"/> (symlinks followed), read from a read-only
    /// handle; null when nothing is there, it cannot be opened, or the platform has no native call for it.
    /// </summary>
    public static FileIdentity? Of(string path)
    {
        if (!s_nativeAvailable || string.IsNullOrEmpty(path))
        {
            return null;
        }

        try
        {
            return OperatingSystem.IsWindows() ? Windows.Of(path) : Unix.Of(path);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            s_nativeAvailable = false;
            return null;
        }
    }

    /// <summary>
    /// Whether two paths name the same file: by identity when both can be opened, otherwise (one does not exist
    /// yet, or no native call) by their fully resolved paths, so that a path whose folder is a symlink to the other's
    /// folder still matches.
    /// </summary>
    public static bool SameFile(string a, string b)
    {
        if (Of(a) is { } ia && Of(b) is { } ib)
        {
            return ia == ib;
        }

        return string.Equals(ResolvePath(a), ResolvePath(b), PathComparison);
    }

    /// <summary>
    /// The absolute path with every component's symlink (or junction) resolved, in order, so that <c>..</c> after a
    /// symlinked folder goes to the parent of its target as the operating system does. Components that do not exist
    /// are kept as they are; a symlink loop stops resolving after 40 links (the Linux limit).
    /// </summary>
    public static string ResolvePath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string absolute = Path.IsPathRooted(path) ? path : Path.Combine(Environment.CurrentDirectory, path);
        string root = Path.GetPathRoot(absolute) ?? string.Empty;
        var pending = new Stack<string>(Enumerable.Reverse(Split(absolute[root.Length..])));
        string current = root;
        int links = 0;
        while (pending.TryPop(out string? part))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }

            string next = Path.Combine(current, part);
            string? target = LinkTarget(next);
            if (target is null || ++links > 40)
            {
                current = next;
                continue;
            }

            // Resolve the target's own components in place of this one; a rooted target starts again at its root.
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target) ?? string.Empty;
                target = target[current.Length..];
            }

            foreach (string t in Enumerable.Reverse(Split(target)))
            {
                pending.Push(t);
            }
        }

        return current;
    }

    private static string[] Split(string relative) =>
        relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>(device, inode) from <see cref="UnixStat"/>.</summary>
    private static class Unix
    {
        public static bool Supported => UnixStat.Supported;

        public static FileIdentity? Of(string path) =>
            UnixStat.TryRead(path, out UnixStat.Fields st) ? new FileIdentity(st.Device, st.Inode) : null;
    }

    /// <summary>CreateFileW (with backup semantics, so folders open too) and GetFileInformationByHandle.</summary>
    private static partial class Windows
    {
        private const uint FileReadAttributes = 0x80;
        private const uint FileShareAll = 0x1 | 0x2 | 0x4;
        private const uint OpenExisting = 3;
        private const uint FileFlagBackupSemantics = 0x02000000;

        public static FileIdentity? Of(string path)
        {
            using SafeFileHandle handle = CreateFile(path, FileReadAttributes, FileShareAll, 0, OpenExisting, FileFlagBackupSemantics, 0);
            if (handle.IsInvalid || !GetFileInformationByHandle(handle, out ByHandleFileInformation info))
            {
                return null;
            }

            return new FileIdentity(info.VolumeSerialNumber, ((ulong)info.FileIndexHigh << 32) | info.FileIndexLow);
        }

        [LibraryImport("kernel32.dll", EntryPoint = "CreateFileW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
        private static partial SafeFileHandle CreateFile(string name, uint access, uint share, nint security, uint creation, uint flags, nint template);

        [LibraryImport("kernel32.dll", SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        private static partial bool GetFileInformationByHandle(SafeFileHandle handle, out ByHandleFileInformation info);

        /// <summary>BY_HANDLE_FILE_INFORMATION; each FILETIME is two DWORDs.</summary>
        [StructLayout(LayoutKind.Sequential)]
        private struct ByHandleFileInformation
        {
            public uint FileAttributes;
            public uint CreationTimeLow;
            public uint CreationTimeHigh;
            public uint LastAccessTimeLow;
            public uint LastAccessTimeHigh;
            public uint LastWriteTimeLow;
            public uint LastWriteTimeHigh;
            public uint VolumeSerialNumber;
            public uint FileSizeHigh;
            public uint FileSizeLow;
            public uint NumberOfLinks;
            public uint FileIndexHigh;
            public uint FileIndexLow;
        }
    }
}
