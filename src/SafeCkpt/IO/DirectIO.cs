using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SafeCkpt.IO;

/// <summary>
/// Opens files for writing with Linux's <c>O_DIRECT</c>, which .NET does not expose: writes go straight to the
/// device instead of through the page cache. For multi-gigabyte outputs this is several times faster than buffered
/// writes once the page cache is full of the (much larger) input, because no clean page has to be reclaimed for
/// every page written (measured: 2 GiB in 0.94 s direct against 2.9-4.7 s buffered, benchmarks/README.md).
/// </summary>
internal static partial class DirectIO
{
    /// <summary>The alignment O_DIRECT asks of offsets, lengths and memory; 4 KiB covers every common device.</summary>
    public const int Alignment = 4096;

    private const int OWronly = 0x1;
    private const int OCreat = 0x40;
    private const int OExcl = 0x80;
    private const int OCloexec = 0x80000;

    /// <summary>The O_DIRECT flag of this architecture, or 0 where SafeCkpt does not use it.</summary>
    private static int ODirect => !OperatingSystem.IsLinux() ? 0 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    /// <summary>Creates a new file opened with O_DIRECT, or returns null when the platform or file system cannot.</summary>
    public static SafeFileHandle? TryCreate(string path)
    {
        int flag = ODirect;
        if (flag == 0 || Environment.GetEnvironmentVariable("SAFECKPT_NO_DIRECT_IO") == "1")
        {
            return null;
        }

        int fd = Open(path, OWronly | OCreat | OExcl | OCloexec | flag, Convert.ToInt32("644", 8));
        if (fd < 0)
        {
            return null;
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);
}
