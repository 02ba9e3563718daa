using System.Text.Encodings.Web;
using System.Text.Json;
using SafeCkpt.IO;

namespace SafeCkpt.Hashing;

/// <summary>
/// A JSON cache file shared by processes: read without a lock (it is only ever replaced whole, by a rename), and
/// updated under an exclusive lock on <c>FILE.lock</c> by reading it again, changing it and writing it atomically
/// (<see cref="AtomicOutput"/>: a temporary file beside it, flushed, renamed over it). The lock is the one .NET takes
/// for <see cref="FileShare.None"/>: <c>flock(LOCK_EX)</c> on Linux and macOS (the lock Python's <c>filelock</c>
/// takes, which A1111 1.5 held on <c>cache.json.lock</c>), a share-mode lock on Windows. Two runs that update the
/// file at once therefore apply their changes one after the other and neither is lost.
/// </summary>
internal static class CacheFile
{
    /// <summary>How long an update waits for another process's lock before giving up (with a warning).</summary>
    internal static TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How the cache files are written: readable non-ASCII (as A1111's <c>ensure_ascii=False</c>), indented.</summary>
    public static JsonWriterOptions WriterOptions { get; } = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
#if NET9_0_OR_GREATER
        IndentSize = 4,
#endif
    };

    /// <summary>Reads the file's bytes; null when it does not exist.</summary>
    /// <exception cref="IOException">It exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">Reading it is not permitted.</exception>
    public static byte[]? Read(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs <paramref name="update"/> on the file's current bytes (null: none yet) under the file's lock and writes
    /// what it returns (null: leave the file as it is). Returns a warning instead of throwing when the lock cannot be
    /// had in time or the file cannot be written.
    /// </summary>
    public static string? Update(string path, Func<byte[]?, byte[]?> update)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        try
        {
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            using FileStream? held = Lock(path + ".lock");
            if (held is null)
            {
                return $"{path}: another process held its lock ({path}.lock) for {LockTimeout.TotalSeconds:0} s; not updated this time.";
            }

            byte[]? bytes = update(Read(path));
            if (bytes is null)
            {
                return null;
            }

            using AtomicOutput output = AtomicOutput.Create(path, overwrite: true, inputs: [], bytes.Length);
            output.Append(bytes);
            output.Commit(flushToDisk: true);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SafeCkptException)
        {
            return $"{path}: cannot be written ({ex.Message}); not updated.";
        }
    }

    /// <summary>Takes the lock file exclusively, retrying until <see cref="LockTimeout"/>; null if it stays held.</summary>
    private static FileStream? Lock(string lockPath)
    {
        DateTime until = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < until)
            {
                Thread.Sleep(25);
            }
            catch (IOException)
            {
                return null;
            }
        }
    }
}
