using Microsoft.Win32.SafeHandles;

namespace SafeCkpt.IO;

/// <summary>
/// An output file written under a temporary name in the target folder and renamed into place only by
/// <see cref="Commit"/>; disposing without committing deletes the temporary file, so a failed or cancelled run
/// leaves nothing behind.
/// </summary>
internal sealed class AtomicOutput : IDisposable
{
    private readonly string _tempPath;
    private readonly bool _overwrite;
    private SafeFileHandle? _handle;
    private bool _committed;

    private AtomicOutput(string path, string tempPath, SafeFileHandle handle, bool overwrite)
    {
        Path = path;
        _tempPath = tempPath;
        _handle = handle;
        _overwrite = overwrite;
    }

    /// <summary>The final path.</summary>
    public string Path { get; }

    /// <summary>The handle of the temporary file, for positional writes.</summary>
    public SafeFileHandle Handle => _handle ?? throw new ObjectDisposedException(nameof(AtomicOutput));

    /// <summary>
    /// Checks the target and creates the temporary file. <paramref name="inputs"/> are the files being read: the
    /// output may never be one of them. <paramref name="expectedLength"/> is only reported in a disk-full message;
    /// the file is not preallocated (fallocate made the conversion benchmark slower: unwritten extents must be
    /// converted on every write).
    /// </summary>
    public static AtomicOutput Create(string path, bool overwrite, IEnumerable<string> inputs, long expectedLength = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        foreach (string input in inputs)
        {
            if (SameFile(full, input))
            {
                throw new OutputException(SafeCkptErrorCode.OutputIsInput, path, $"{path}: the output is the input file. SafeCkpt never modifies its input; choose another output name.");
            }
        }

        if (Directory.Exists(full))
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: is a folder; give a file name for the output.");
        }

        if (File.Exists(full) && !overwrite)
        {
            throw new OutputException(SafeCkptErrorCode.OutputExists, path, $"{path}: already exists. Choose another name, delete it, or ask to overwrite (--overwrite).");
        }

        string folder = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(folder))
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: the folder {folder} does not exist. Create it first.");
        }

        string temp = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            SafeFileHandle handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
            return new AtomicOutput(full, temp, handle, overwrite);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: permission denied writing to {folder}.", ex);
        }
        catch (IOException ex) when (IsDiskFull(ex))
        {
            TryDelete(temp);
            throw new OutputException(SafeCkptErrorCode.DiskFull, path, $"{path}: not enough free space on the disk for {expectedLength:N0} bytes. Free some space or write elsewhere.", ex);
        }
        catch (IOException ex)
        {
            TryDelete(temp);
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: cannot create the output ({ex.Message}).", ex);
        }
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>, turning I/O errors into <see cref="OutputException"/>.</summary>
    public void Write(ReadOnlySpan<byte> data, long offset)
    {
        try
        {
            RandomAccess.Write(Handle, data, offset);
        }
        catch (IOException ex) when (IsDiskFull(ex))
        {
            throw new OutputException(SafeCkptErrorCode.DiskFull, Path, $"{Path}: the disk is full (at byte {offset:N0}). Free some space or write elsewhere; no partial file was kept.", ex) { Offset = offset };
        }
        catch (IOException ex)
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, Path, $"{Path}: write failed at byte {offset:N0} ({ex.Message}); no partial file was kept.", ex) { Offset = offset };
        }
    }

    /// <summary>Sets the final length, optionally flushes to disk, and renames the file into place.</summary>
    public void Commit(long length, bool flushToDisk)
    {
        try
        {
            RandomAccess.SetLength(Handle, length);
            if (flushToDisk)
            {
                RandomAccess.FlushToDisk(Handle);
            }

            _handle!.Dispose();
            _handle = null;
            File.Move(_tempPath, Path, _overwrite);
            _committed = true;
        }
        catch (IOException ex) when (!_overwrite && File.Exists(Path))
        {
            throw new OutputException(SafeCkptErrorCode.OutputExists, Path, $"{Path}: was created by someone else while writing. Choose another name or ask to overwrite.", ex);
        }
        catch (IOException ex)
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, Path, $"{Path}: cannot move the finished output into place ({ex.Message}).", ex);
        }
    }

    /// <summary>Deletes the temporary file unless committed.</summary>
    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
        if (!_committed)
        {
            TryDelete(_tempPath);
        }
    }

    private static bool IsDiskFull(IOException ex) => ex.HResult is 28 or unchecked((int)0x80070070) or unchecked((int)0x80070027) || ex.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);

    private static bool SameFile(string outputFull, string input)
    {
        string a = Resolve(outputFull);
        string b = Resolve(System.IO.Path.GetFullPath(input));
        return string.Equals(a, b, OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }

    private static string Resolve(string full)
    {
        try
        {
            FileSystemInfo? target = File.Exists(full) ? File.ResolveLinkTarget(full, returnFinalTarget: true) : null;
            return target?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
