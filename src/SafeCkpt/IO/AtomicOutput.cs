using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SafeCkpt.IO;

/// <summary>
/// An output file written under a temporary name in the target folder and renamed into place only by
/// <see cref="Commit"/>; disposing without committing deletes the temporary file, so a failed or cancelled run
/// leaves nothing behind. Content is appended sequentially (<see cref="Append"/>); large outputs on Linux go
/// through a 4 KiB-aligned staging buffer with <see cref="DirectIO"/>.
/// </summary>
internal sealed unsafe class AtomicOutput : IDisposable
{
    /// <summary>Outputs at least this large use O_DIRECT where available; smaller ones gain nothing from it.</summary>
    internal static long DirectThreshold { get; set; } = 64L << 20;

    private const int StagingSize = 8 << 20;

    private readonly string _tempPath;
    private readonly bool _overwrite;
    private readonly string[] _inputs;
    private SafeFileHandle? _handle;
    private SafeFileHandle? _fragments;
    private byte* _staging;
    private long _end;
    private bool _finished;
    private bool _committed;

    private AtomicOutput(string path, string tempPath, SafeFileHandle handle, bool overwrite, string[] inputs, bool direct)
    {
        Path = path;
        _inputs = inputs;
        _tempPath = tempPath;
        _handle = handle;
        _overwrite = overwrite;
        if (direct)
        {
            // Whole aligned blocks go through the O_DIRECT handle; the partial blocks at the ends of a write go
            // through a buffered handle of the same file, so writes may come in any order and need no padding.
            _fragments = File.OpenHandle(tempPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, FileOptions.None);
            _staging = (byte*)NativeMemory.AlignedAlloc(StagingSize, DirectIO.Alignment);
        }
    }

    /// <summary>The final path.</summary>
    public string Path { get; }

    /// <summary>Whether the output is written with O_DIRECT.</summary>
    public bool IsDirect => _staging != null;

    /// <summary>The end of the furthest byte written so far: where <see cref="Append"/> writes.</summary>
    public long Position => _end;

    /// <summary>
    /// Checks the target and creates the temporary file. <paramref name="inputs"/> are the files being read: the
    /// output may never be one of them. <paramref name="expectedLength"/> decides on O_DIRECT and is reported in a
    /// disk-full message; the file is not preallocated (fallocate made conversions slower: its unwritten extents
    /// must be converted on every write).
    /// </summary>
    public static AtomicOutput Create(string path, bool overwrite, IEnumerable<string> inputs, long expectedLength = 0)
    {
        string[] inputList = inputs.ToArray();
        string full = Check(path, overwrite, inputList);
        string folder = System.IO.Path.GetDirectoryName(full) ?? ".";
        string temp = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            SafeFileHandle? direct = expectedLength >= DirectThreshold ? DirectIO.TryCreate(temp) : null;
            if (direct is not null)
            {
                return new AtomicOutput(full, temp, direct, overwrite, inputList, direct: true);
            }

            SafeFileHandle handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
            return new AtomicOutput(full, temp, handle, overwrite, inputList, direct: false);
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

    /// <summary>
    /// Checks that <paramref name="path"/> may be written: it is not the same file as any of
    /// <paramref name="inputs"/> (compared by <see cref="FileIdentity"/>, so symlinked folders, hard links and bind
    /// mounts are seen through; a path that does not exist yet is compared by its resolved folder and name), it is
    /// not a folder, it exists only if <paramref name="overwrite"/> is set, and its folder exists. Nothing is
    /// created; <see cref="Create"/> runs the same checks, and a caller writing several outputs checks them all
    /// before writing any.
    /// </summary>
    /// <returns>The full path.</returns>
    public static string Check(string path, bool overwrite, IEnumerable<string> inputs)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        CheckNotInput(path, full, inputs);
        if (Directory.Exists(full))
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: is a folder; give a file name for the output.");
        }

        if (File.Exists(full) && !overwrite)
        {
            throw new OutputException(SafeCkptErrorCode.OutputExists, path, $"{path}: already exists. Choose another name, delete it, or ask to overwrite (SaveOptions.Overwrite).");
        }

        string folder = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(folder))
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, path, $"{path}: the folder {folder} does not exist. Create it first.");
        }

        return full;
    }

    /// <summary>Throws <see cref="SafeCkptErrorCode.OutputIsInput"/>, naming both paths, when the output is one of the inputs.</summary>
    private static void CheckNotInput(string path, string full, IEnumerable<string> inputs)
    {
        foreach (string input in inputs)
        {
            if (FileIdentity.SameFile(full, input))
            {
                string how = string.Equals(full, System.IO.Path.GetFullPath(input), FileIdentity.PathComparison) ? string.Empty : " (reached through a symlink, a hard link or a mount)";
                throw new OutputException(SafeCkptErrorCode.OutputIsInput, path, $"{path}: is the same file as the input {input}{how}. SafeCkpt never modifies its input; choose another output name.");
            }
        }
    }

    /// <summary>Appends <paramref name="data"/> at <see cref="Position"/>.</summary>
    public void Append(ReadOnlySpan<byte> data) => Write(_end, data);

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/>; writes may come in any order but must not
    /// overlap. With O_DIRECT, the whole 4 KiB blocks are written straight from <paramref name="data"/> when its
    /// memory is aligned like the file offset (the streamer's buffers are), else through an aligned staging buffer.
    /// </summary>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_handle is null, this);
        if (_finished)
        {
            throw new InvalidOperationException("The output is finished.");
        }

        _end = Math.Max(_end, offset + data.Length);
        if (_staging == null)
        {
            WriteAt(_handle, data, offset);
            return;
        }

        const int A = DirectIO.Alignment;
        long end = offset + data.Length;
        long first = (offset + A - 1) / A * A;
        long last = end / A * A;
        if (first >= last)
        {
            WriteAt(_fragments!, data, offset);
            return;
        }

        WriteAt(_fragments!, data[..(int)(first - offset)], offset);
        ReadOnlySpan<byte> whole = data.Slice((int)(first - offset), (int)(last - first));
        fixed (byte* p = whole)
        {
            if ((nuint)p % A == 0)
            {
                WriteAt(_handle, whole, first);
            }
            else
            {
                for (int done = 0; done < whole.Length; done += StagingSize)
                {
                    int n = Math.Min(StagingSize, whole.Length - done);
                    whole.Slice(done, n).CopyTo(new Span<byte>(_staging, n));
                    WriteAt(_handle, new ReadOnlySpan<byte>(_staging, n), first + done);
                }
            }
        }

        WriteAt(_fragments!, data[(int)(last - offset)..], last);
    }

    /// <summary>Gives the temporary file the permission bits of <paramref name="source"/> (Unix), so a file rewritten in place keeps them.</summary>
    public void CopyModeFrom(string source)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_tempPath, File.GetUnixFileMode(source));
        }
    }

    /// <summary>Sets the file's length to the end of the furthest byte written.</summary>
    public void FinishAppending()
    {
        ObjectDisposedException.ThrowIf(_handle is null, this);
        if (_finished)
        {
            return;
        }

        SetLength(_end);
        _finished = true;
    }

    /// <summary>Finishes, optionally flushes to disk, and renames the file into place.</summary>
    public void Commit(bool flushToDisk)
    {
        FinishAppending();
        try
        {
            if (flushToDisk)
            {
                RandomAccess.FlushToDisk(_fragments ?? _handle!);
            }

            CloseHandles();

            // Checked again just before the rename: the target may have changed during a long conversion.
            CheckNotInput(Path, Path, _inputs);
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
        CloseHandles();
        if (_staging != null)
        {
            NativeMemory.AlignedFree(_staging);
            _staging = null;
        }

        if (!_committed)
        {
            TryDelete(_tempPath);
        }
    }

    private void SetLength(long length)
    {
        try
        {
            RandomAccess.SetLength(_fragments ?? _handle!, length);
        }
        catch (IOException ex)
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, Path, $"{Path}: cannot set the output's length ({ex.Message}); no partial file was kept.", ex);
        }
    }

    private void WriteAt(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        if (data.IsEmpty)
        {
            return;
        }

        try
        {
            RandomAccess.Write(handle, data, offset);
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

    private void CloseHandles()
    {
        _handle?.Dispose();
        _handle = null;
        _fragments?.Dispose();
        _fragments = null;
    }

    private static bool IsDiskFull(IOException ex) => ex.HResult is 28 or unchecked((int)0x80070070) or unchecked((int)0x80070027) || ex.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);

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
