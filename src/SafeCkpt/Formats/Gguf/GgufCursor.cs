using System.Buffers.Binary;
using System.Text;
using SafeCkpt.IO;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// Reads a GGUF header forwards through a small window of the file, so a header of any size (a tokenizer of
/// 200,000 strings) costs one buffer; every read past the end of the file is a named <see cref="SafeCkptErrorCode.Truncated"/> error.
/// </summary>
internal sealed class GgufCursor(ByteSource file)
{
    private const int WindowSize = 64 * 1024;

    private readonly byte[] _window = new byte[WindowSize];
    private long _windowStart;
    private int _windowLength;

    /// <summary>The file offset of the next byte to read.</summary>
    public long Position { get; private set; }

    /// <summary>Bytes left in the file after <see cref="Position"/>.</summary>
    public long Remaining => file.Length - Position;

    /// <summary>Reads one byte.</summary>
    public byte U8(string what) => Take(1, what)[0];

    /// <summary>Reads a little-endian u16.</summary>
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));

    /// <summary>Reads a little-endian u32.</summary>
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    /// <summary>Reads a little-endian u64.</summary>
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>Reads a gguf string (u64 length + bytes) of at most <paramref name="max"/> bytes as strict UTF-8.</summary>
    public string Text(string what, int max) => ReadString(what, max, keep: false, strict: true)!;

    /// <summary>Reads a string value: its text (invalid UTF-8 replaced) when at most <paramref name="keepMax"/> bytes, else skips it and returns null.</summary>
    public string? TextOrSkip(string what, int keepMax) => ReadString(what, keepMax, keep: true, strict: false);

    private string? ReadString(string what, int max, bool keep, bool strict)
    {
        long at = Position;
        ulong length = U64(what);
        if (length > (ulong)Remaining)
        {
            throw GgufReader.Fail(SafeCkptErrorCode.GgufInvalidString, file.Name, at, $"{what} declares {length:N0} bytes but only {Remaining:N0} bytes are left in the file. The file is truncated or corrupt.");
        }

        if (length > (ulong)max)
        {
            if (keep)
            {
                Position += (long)length;
                return null;
            }

            throw GgufReader.Fail(SafeCkptErrorCode.GgufInvalidString, file.Name, at, $"{what} is {length:N0} bytes long, above SafeCkpt's limit of {max:N0} for it. The file is corrupt or crafted.");
        }

        byte[] bytes = new byte[(int)length];
        Fill(bytes, what);
        try
        {
            return new UTF8Encoding(false, strict).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw GgufReader.Fail(SafeCkptErrorCode.GgufInvalidString, file.Name, at, $"{what} is not valid UTF-8. The file is corrupt.");
        }
    }

    /// <summary>Skips <paramref name="count"/> bytes, which must lie inside the file.</summary>
    public void Skip(ulong count, string what)
    {
        if (count > (ulong)Remaining)
        {
            throw Truncated(what);
        }

        Position += (long)count;
    }

    private void Fill(Span<byte> destination, string what)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = Math.Min(WindowSize, destination.Length - done);
            Take(n, what).CopyTo(destination[done..]);
            done += n;
        }
    }

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count > Remaining)
        {
            throw Truncated(what);
        }

        if (Position < _windowStart || Position + count > _windowStart + _windowLength)
        {
            _windowStart = Position;
            _windowLength = (int)Math.Min(WindowSize, file.Length - Position);
            file.ReadExactly(_windowStart, _window.AsSpan(0, _windowLength));
        }

        var span = new ReadOnlySpan<byte>(_window, (int)(Position - _windowStart), count);
        Position += count;
        return span;
    }

    private InvalidGgufException Truncated(string what) =>
        GgufReader.Fail(SafeCkptErrorCode.Truncated, file.Name, Position, $"the file ends inside {what} (at byte {Position:N0} of {file.Length:N0}). The file is truncated; download it again.");
}
