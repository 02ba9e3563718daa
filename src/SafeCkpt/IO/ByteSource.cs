using Microsoft.Win32.SafeHandles;

namespace SafeCkpt.IO;

/// <summary>Random-access bytes: a file read with positional reads, or a buffer in memory.</summary>
internal abstract class ByteSource : IDisposable
{
    /// <summary>A name for messages: the file path, or a description of the buffer.</summary>
    public abstract string Name { get; }

    /// <summary>The number of bytes.</summary>
    public abstract long Length { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; throws when the source ends first.</summary>
    public abstract void ReadExactly(long offset, Span<byte> destination);

    /// <summary>Releases the file handle, if any.</summary>
    public virtual void Dispose()
    {
    }

    /// <summary>Reads up to <paramref name="max"/> bytes from <paramref name="offset"/> (fewer at the end).</summary>
    public byte[] ReadAt(long offset, int max)
    {
        long n = Math.Min(max, Math.Max(0, Length - offset));
        var bytes = new byte[n];
        ReadExactly(offset, bytes);
        return bytes;
    }
}

/// <summary>A file opened read-only, read with <see cref="RandomAccess"/> (thread-safe, no shared position).</summary>
internal sealed class FileByteSource : ByteSource
{
    private readonly SafeFileHandle _handle;
    private readonly bool _ownsHandle;

    private FileByteSource(string path, SafeFileHandle handle, long length, bool ownsHandle = true)
    {
        Name = path;
        _handle = handle;
        Length = length;
        _ownsHandle = ownsHandle;
    }

    public override string Name { get; }

    public override long Length { get; }

    /// <summary>Opens <paramref name="path"/> for reading, turning OS errors into <see cref="InputReadException"/>.</summary>
    public static FileByteSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            throw new InputReadException(SafeCkptErrorCode.FileUnreadable, path, $"{path}: is a folder, not a model file. Give the path of a .safetensors, .ckpt, .pt, .pth or .bin file.");
        }

        SafeFileHandle handle = OpenHandle(path);

        // A leftover undo journal means a metadata edit of this file was cut off: restore the old header before
        // reading it (the shared lock taken above guarantees no edit is running now; see Metadata.HeaderJournal).
        if (Metadata.HeaderJournal.Pending(path) is { } journal)
        {
            handle.Dispose();
            Metadata.HeaderJournal.RecoverBeforeRead(path, journal);
            handle = OpenHandle(path);
        }

        try
        {
            return new FileByteSource(path, handle, RandomAccess.GetLength(handle));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads through a handle the caller keeps open and closes (the metadata editor reads the file it holds locked).</summary>
    internal static FileByteSource Over(string path, SafeFileHandle handle) => new(path, handle, RandomAccess.GetLength(handle), ownsHandle: false);

    /// <summary>Opens <paramref name="path"/> read-only (a shared lock where .NET takes one), turning OS errors into <see cref="InputReadException"/>.</summary>
    private static SafeFileHandle OpenHandle(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.None);
        }
        catch (FileNotFoundException ex)
        {
            throw new InputReadException(SafeCkptErrorCode.FileNotFound, path, $"{path}: file not found. Check the path and the spelling of the file name.", ex);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new InputReadException(SafeCkptErrorCode.FileNotFound, path, $"{path}: the folder does not exist. Check the path.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new InputReadException(SafeCkptErrorCode.FileUnreadable, path, $"{path}: permission denied. Make the file readable for this user.", ex);
        }
        catch (IOException ex)
        {
            throw new InputReadException(SafeCkptErrorCode.FileUnreadable, path, $"{path}: cannot open the file ({ex.Message}).", ex);
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> and hands it to <paramref name="open"/>, which takes ownership; the file is
    /// closed if <paramref name="open"/> throws.
    /// </summary>
    public static T OpenWith<T>(string path, Func<FileByteSource, T> open)
    {
        FileByteSource file = Open(path);
        try
        {
            return open(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        long at = offset;
        while (!destination.IsEmpty)
        {
            int n;
            try
            {
                n = RandomAccess.Read(_handle, destination, at);
            }
            catch (ObjectDisposedException ex)
            {
                throw new ObjectDisposedException(Name, $"{Name} was closed; keep the ModelFile open until its tensors are read or saved. ({ex.Message})");
            }
            catch (IOException ex)
            {
                throw new InputReadException(SafeCkptErrorCode.FileUnreadable, Name, $"{Name}: read error at byte {at} ({ex.Message}).", ex) { Offset = at };
            }

            if (n == 0)
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.Truncated, Name, $"{Name}: the file ends at byte {at}, before the data it declares; it is truncated or was changed while open. Download it again.") { Offset = at };
            }

            destination = destination[n..];
            at += n;
        }
    }

    public override void Dispose()
    {
        if (_ownsHandle)
        {
            _handle.Dispose();
        }

        base.Dispose();
    }
}

/// <summary>Bytes held in memory (fixtures built in code, tests).</summary>
internal sealed class MemoryByteSource(ReadOnlyMemory<byte> bytes, string name) : ByteSource
{
    public override string Name { get; } = name;

    public override long Length => bytes.Length;

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > bytes.Length || destination.Length > bytes.Length - offset)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.Truncated, Name, $"{Name}: the data ends at byte {bytes.Length}, before the {destination.Length} bytes asked for at byte {offset}.") { Offset = offset };
        }

        bytes.Span.Slice((int)offset, destination.Length).CopyTo(destination);
    }
}
