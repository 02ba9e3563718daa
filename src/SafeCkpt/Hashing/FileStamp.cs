using SafeCkpt.IO;

namespace SafeCkpt.Hashing;

/// <summary>
/// What a hash cache compares to decide a file is unchanged: its size and its modification time to the nanosecond
/// (the file system's own value: <c>struct stat</c>'s <c>st_mtim</c> on Linux and macOS, the 100 ns FILETIME on
/// Windows; .NET's <see cref="FileSystemInfo.LastWriteTimeUtc"/> keeps only 100 ns ticks, which loses the Linux value).
/// </summary>
/// <param name="Size">The length in bytes.</param>
/// <param name="Seconds">Seconds of the modification time since 1970-01-01 UTC.</param>
/// <param name="Nanoseconds">The nanoseconds after <paramref name="Seconds"/> (0 to 999,999,999).</param>
internal readonly record struct FileStamp(long Size, long Seconds, long Nanoseconds)
{
    /// <summary>Whether the native call works here; cleared the first time it turns out to be missing.</summary>
    private static bool s_nativeAvailable = UnixStat.Supported;

    /// <summary>The modification time in nanoseconds since 1970 (what SafeCkpt's cache stores).</summary>
    public long UnixNanoseconds => (Seconds * 1_000_000_000) + Nanoseconds;

    /// <summary>
    /// The modification time as Python's <c>os.path.getmtime</c> returns it, bit for bit: CPython computes the float
    /// as <c>sec + nsec * 1e-9</c> in doubles (<c>fill_time</c> in posixmodule.c), and AUTOMATIC1111 compares that
    /// value with the one in its <c>cache.json</c>.
    /// </summary>
    public double PythonMTime => Seconds + (Nanoseconds * 1e-9);

    /// <summary>Reads the stamp of the file at <paramref name="path"/> (symlinks followed).</summary>
    /// <exception cref="FileNotFoundException">Nothing is there.</exception>
    /// <exception cref="IOException">It cannot be read.</exception>
    public static FileStamp Of(string path)
    {
        if (s_nativeAvailable)
        {
            try
            {
                if (UnixStat.TryRead(path, out UnixStat.Fields st))
                {
                    return new FileStamp(st.Size, st.ModifiedSeconds, st.ModifiedNanoseconds);
                }
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                s_nativeAvailable = false;
            }
        }

        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"{path}: no such file.", path);
        }

        // Windows keeps 100 ns ticks, as CPython reads them there (nsec = ticks % 10^7 * 100).
        long ticks = info.LastWriteTimeUtc.Ticks - DateTime.UnixEpoch.Ticks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }

        return new FileStamp(info.Length, seconds, rest * 100);
    }
}
