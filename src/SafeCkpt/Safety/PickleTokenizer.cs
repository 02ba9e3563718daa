using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using static SafeCkpt.Safety.PickleOpcodes;

namespace SafeCkpt.Safety;

/// <summary>
/// One opcode and its decoded argument, as Python's <c>pickletools.genops</c> yields it. Which field holds the
/// argument depends on the opcode: <see cref="Int"/> for integers, memo indexes, PROTO and EXT codes;
/// <see cref="Value"/> for strings, bytes, floats and wide integers; <see cref="Module"/> and <see cref="Name"/> for
/// GLOBAL and INST.
/// </summary>
internal struct PickleOp
{
    /// <summary>The opcode byte.</summary>
    public byte Code;

    /// <summary>Where the opcode starts in the pickle.</summary>
    public int Offset;

    /// <summary>The integer argument (BININT*, LONG1/LONG4 when it fits, memo indexes, PROTO, EXT codes).</summary>
    public long Int;

    /// <summary>A string, byte[], double or BigInteger argument; the raw text line of INT/LONG/FLOAT.</summary>
    public object? Value;

    /// <summary>GLOBAL/INST module.</summary>
    public string? Module;

    /// <summary>GLOBAL/INST name.</summary>
    public string? Name;
}

/// <summary>
/// The pickle opcode grammar in one place: reads opcodes and their arguments exactly as CPython's C unpickler
/// reads them (argument widths, FRAME boundaries, text lines, strings decoded as UTF-8 the way
/// <c>torch.load(encoding='utf-8')</c> decodes them), bounded by <see cref="PickleLimits"/>. Both the
/// <see cref="PickleMachine"/> (which builds values) and the <see cref="CheckpointScanner"/> (which only names
/// globals) consume it, so they can never read the same bytes differently.
/// </summary>
internal sealed class PickleTokenizer
{
    /// <summary>The longest text line (GLOBAL module or name, protocol-0 argument) accepted.</summary>
    public const int MaxLine = 4096;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly ReadOnlyMemory<byte> _data;
    private readonly PickleSource _source;
    private readonly PickleLimits _limits;
    private readonly bool _windowed;
    private int _pos;
    private int _opStart;
    private byte _op;
    private long _frameEnd = -1;
    private long _count;

    public PickleTokenizer(ReadOnlyMemory<byte> data, PickleSource source, PickleLimits limits, bool windowed)
    {
        _data = data;
        _source = source;
        _limits = limits;
        _windowed = windowed;
        if (data.Length > limits.MaxPickleBytes && !windowed)
        {
            throw PickleErrors.Limit(source, 0, $"the pickle is {data.Length:N0} bytes, above the {limits.MaxPickleBytes:N0}-byte limit");
        }
    }

    /// <summary>The offset of the next opcode (after STOP: the first byte after the pickle).</summary>
    public int Position => _pos;

    /// <summary>Where the pickle came from, for messages.</summary>
    public PickleSource Source => _source;

    /// <summary>The offset of the opcode read last.</summary>
    public int OpStart => _opStart;

    /// <summary>The opcode read last.</summary>
    public byte Op => _op;

    /// <summary>Reads the next opcode and its argument; throws an <see cref="InvalidCheckpointException"/> on malformed bytes.</summary>
    public PickleOp Next()
    {
        ReadOnlySpan<byte> d = _data.Span;
        if (_pos >= d.Length)
        {
            if (_windowed)
            {
                throw new NeedMoreDataException();
            }

            throw Invalid(_pos, "the pickle ends before its STOP opcode; it is truncated");
        }

        if (++_count > _limits.MaxOpcodes)
        {
            throw PickleErrors.Limit(_source, _pos, $"more than {_limits.MaxOpcodes:N0} opcodes");
        }

        if (_pos > _limits.MaxPickleBytes)
        {
            throw PickleErrors.Limit(_source, _pos, $"the pickle is longer than the {_limits.MaxPickleBytes:N0}-byte limit");
        }

        _opStart = _pos;
        _op = d[_pos];
        if (_frameEnd >= 0 && _pos >= _frameEnd)
        {
            _frameEnd = -1;
        }

        _pos++;
        var op = new PickleOp { Code = _op, Offset = _opStart };
        switch (_op)
        {
            case Proto:
                op.Int = ReadByte();
                break;
            case Frame:
                long frameLength = (long)Math.Min(ReadUInt64(), long.MaxValue);
                if (_frameEnd >= 0)
                {
                    throw Invalid(_opStart, "a FRAME starts inside another frame");
                }

                if (frameLength > d.Length - _pos)
                {
                    if (_windowed)
                    {
                        throw new NeedMoreDataException();
                    }

                    throw Invalid(_opStart, $"FRAME declares {frameLength:N0} bytes but only {d.Length - _pos:N0} follow");
                }

                _frameEnd = _pos + frameLength;
                op.Int = frameLength;
                break;
            case BinInt:
                op.Int = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                break;
            case BinInt1:
            case BinPut:
            case BinGet:
            case Ext1:
                op.Int = ReadByte();
                break;
            case BinInt2:
            case Ext2:
                op.Int = BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
                break;
            case LongBinPut:
            case LongBinGet:
                op.Int = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
                break;
            case Ext4:
                op.Int = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                break;
            case Long1:
                SetLong(ref op, ReadByte());
                break;
            case Long4:
                int n4 = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                if (n4 < 0)
                {
                    throw Invalid(_opStart, "LONG4 has a negative length");
                }

                SetLong(ref op, n4);
                break;
            case BinFloat:
                op.Value = BinaryPrimitives.ReadDoubleBigEndian(Take(8));
                break;
            case ShortBinUnicode:
            case ShortBinString:
                op.Value = DecodeUtf8(Take(ReadByte()));
                break;
            case BinUnicode:
                op.Value = DecodeUtf8(Take(ReadLength32(signed: false)));
                break;
            case BinString:
                op.Value = DecodeUtf8(Take(ReadLength32(signed: true)));
                break;
            case BinUnicode8:
                op.Value = DecodeUtf8(Take(ReadLength64()));
                break;
            case ShortBinBytes:
                op.Value = Take(ReadByte()).ToArray();
                break;
            case BinBytes:
                op.Value = Take(ReadLength32(signed: false)).ToArray();
                break;
            case BinBytes8:
            case ByteArray8:
                op.Value = Take(ReadLength64()).ToArray();
                break;
            case Global:
            case Inst:
                op.Module = DecodeUtf8(ReadLine());
                op.Name = DecodeUtf8(ReadLine());
                break;
            case Get:
            case Put:
                op.Int = ParseMemoIndex(ReadLine());
                break;
            case PickleOpcodes.String:
                op.Value = DecodeUtf8(UnescapeString(ReadLine()));
                break;
            case Unicode:
                op.Value = DecodeRawUnicodeEscape(ReadLine());
                break;
            case Int:
            case PickleOpcodes.Long:
            case PickleOpcodes.Float:
            case PersId:
                // Kept as text: the machine refuses these protocol-0 forms; the scanner only needs their extent.
                op.Value = Encoding.Latin1.GetString(ReadLine());
                break;
            case Mark or Stop or Pop or PopMark or Dup or PickleOpcodes.None or NewTrue or NewFalse or EmptyDict or EmptyList
                or EmptyTuple or EmptySet or PickleOpcodes.Tuple or Tuple1 or Tuple2 or Tuple3 or PickleOpcodes.FrozenSet
                or Append or Appends or SetItem or SetItems or AddItems or Memoize or StackGlobal or Reduce or NewObj
                or NewObjEx or Build or BinPersId or Obj or Dict or PickleOpcodes.List or NextBuffer or ReadOnlyBuffer:
                break;
            default:
                throw Invalid(_opStart, $"byte 0x{_op:x2} is not a pickle opcode; the data is corrupt or not a pickle");
        }

        return op;
    }

    /// <summary>A malformed-pickle error at <paramref name="offset"/>, naming the current opcode.</summary>
    public InvalidCheckpointException Invalid(long offset, string what) => PickleErrors.Invalid(_source, offset, _op, what);

    // ---- arguments: never past the end, never across a FRAME boundary ----
    private ReadOnlySpan<byte> Take(long count)
    {
        long end = _frameEnd >= 0 ? _frameEnd : _data.Length;
        if (_windowed && _frameEnd < 0 && count > end - _pos)
        {
            if (count > _limits.MaxPickleBytes)
            {
                throw Invalid(_opStart, $"{Name(_op)} declares {count:N0} bytes, more than a pickle may hold");
            }

            throw new NeedMoreDataException();
        }

        if (count < 0 || count > end - _pos)
        {
            string where = _frameEnd >= 0 && count <= _data.Length - _pos ? "its FRAME" : "the pickle";
            throw Invalid(_opStart, $"{Name(_op)} needs {count:N0} bytes but {where} ends first");
        }

        ReadOnlySpan<byte> s = _data.Span.Slice(_pos, (int)count);
        _pos += (int)count;
        return s;
    }

    private byte ReadByte() => Take(1)[0];

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private long ReadLength32(bool signed)
    {
        ReadOnlySpan<byte> b = Take(4);
        long n = signed ? BinaryPrimitives.ReadInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
        if (n < 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} has a negative length");
        }

        return n;
    }

    private long ReadLength64()
    {
        ulong n = ReadUInt64();
        return n > long.MaxValue ? long.MaxValue : (long)n;
    }

    private ReadOnlySpan<byte> ReadLine()
    {
        ReadOnlySpan<byte> rest = _data.Span[_pos..];
        long end = _frameEnd >= 0 ? _frameEnd - _pos : rest.Length;
        int window = (int)Math.Min(Math.Min(end, rest.Length), MaxLine + 1);
        int nl = rest[..window].IndexOf((byte)'\n');
        if (nl < 0 && _windowed && _frameEnd < 0 && rest.Length <= MaxLine)
        {
            throw new NeedMoreDataException();
        }

        if (nl < 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} has no end of line within {MaxLine} bytes");
        }

        ReadOnlySpan<byte> line = rest[..nl];
        _pos += nl + 1;
        return line;
    }

    private string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid(_opStart, $"{Name(_op)} holds bytes that are not valid UTF-8 (torch.load decodes them as UTF-8 and would fail)");
        }
    }

    private void SetLong(ref PickleOp op, int n)
    {
        if (n > _limits.MaxLongBytes)
        {
            throw PickleErrors.Limit(_source, _opStart, $"{Name(_op)} integer of {n:N0} bytes (at most {_limits.MaxLongBytes} are accepted)");
        }

        var v = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        if (v >= long.MinValue && v <= long.MaxValue)
        {
            op.Int = (long)v;
        }
        else
        {
            op.Value = v;
        }
    }

    private long ParseMemoIndex(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line.Length > 10 || !long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
        {
            throw Invalid(_opStart, $"{Name(_op)} has the memo index '{Encoding.Latin1.GetString(line)}', not a decimal number");
        }

        return v;
    }

    /// <summary>A protocol-0 STRING argument: a quoted Python literal whose escapes are undone (codecs.escape_decode).</summary>
    private byte[] UnescapeString(ReadOnlySpan<byte> line)
    {
        if (line.Length < 2 || line[0] != line[^1] || (line[0] != (byte)'\'' && line[0] != (byte)'"'))
        {
            throw Invalid(_opStart, "the STRING argument is not enclosed in matching quotes");
        }

        ReadOnlySpan<byte> s = line[1..^1];
        var output = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            byte c = s[i];
            if (c != (byte)'\\')
            {
                output.Add(c);
                continue;
            }

            if (++i >= s.Length)
            {
                throw Invalid(_opStart, "the STRING argument ends with a lone backslash");
            }

            c = s[i];
            switch ((char)c)
            {
                case '\n':
                    break;
                case '\\' or '\'' or '"':
                    output.Add(c);
                    break;
                case 'a':
                    output.Add(7);
                    break;
                case 'b':
                    output.Add(8);
                    break;
                case 'f':
                    output.Add(12);
                    break;
                case 'n':
                    output.Add(10);
                    break;
                case 'r':
                    output.Add(13);
                    break;
                case 't':
                    output.Add(9);
                    break;
                case 'v':
                    output.Add(11);
                    break;
                case 'x':
                    if (!IsHex(s, i + 1, 2))
                    {
                        throw Invalid(_opStart, "the STRING argument has an invalid \\x escape");
                    }

                    output.Add(byte.Parse(s.Slice(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 2;
                    break;
                case >= '0' and <= '7':
                    int value = c - '0';
                    int digits = 1;
                    while (digits < 3 && i + 1 < s.Length && s[i + 1] is >= (byte)'0' and <= (byte)'7')
                    {
                        value = (value * 8) + (s[++i] - '0');
                        digits++;
                    }

                    output.Add((byte)value);
                    break;
                default:
                    // Python keeps unknown escapes as they are (with a deprecation warning).
                    output.Add((byte)'\\');
                    output.Add(c);
                    break;
            }
        }

        return [.. output];
    }

    /// <summary>A protocol-0 UNICODE argument: raw-unicode-escape (only \uXXXX and \UXXXXXXXX are escapes).</summary>
    private string DecodeRawUnicodeEscape(ReadOnlySpan<byte> line)
    {
        var sb = new StringBuilder(line.Length);
        for (int i = 0; i < line.Length; i++)
        {
            byte c = line[i];
            int width = c == (byte)'\\' && i + 1 < line.Length ? line[i + 1] switch { (byte)'u' => 4, (byte)'U' => 8, _ => 0 } : 0;
            if (width == 0)
            {
                sb.Append((char)c);
                continue;
            }

            // An odd run of backslashes escapes; raw-unicode-escape only treats \u after an odd count.
            int backslashes = 0;
            for (int j = i; j >= 0 && line[j] == (byte)'\\'; j--)
            {
                backslashes++;
            }

            if (backslashes % 2 == 0 || !IsHex(line, i + 2, width))
            {
                if (backslashes % 2 == 1)
                {
                    throw Invalid(_opStart, "the UNICODE argument has a truncated \\u escape");
                }

                sb.Append((char)c);
                continue;
            }

            int code = int.Parse(line.Slice(i + 2, width), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (code > 0x10FFFF || code is >= 0xD800 and <= 0xDFFF)
            {
                throw Invalid(_opStart, "the UNICODE argument escapes a code point SafeCkpt does not accept");
            }

            sb.Append(char.ConvertFromUtf32(code));
            i += 1 + width;
        }

        return sb.ToString();
    }

    private static bool IsHex(ReadOnlySpan<byte> s, int start, int count)
    {
        if (start + count > s.Length)
        {
            return false;
        }

        foreach (byte b in s.Slice(start, count))
        {
            if (!char.IsAsciiHexDigit((char)b))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>The errors of pickle reading, in one place: malformed bytes, a safety limit, an unsafe construct, an unsupported one.</summary>
internal static class PickleErrors
{
    public static InvalidCheckpointException Invalid(PickleSource source, long offset, byte op, string what) =>
        new(SafeCkptErrorCode.InvalidPickle, source.FilePath, $"{source.FilePath}: invalid pickle at {source.Where(offset)} ({Name(op)}): {what}. The file is damaged or not a checkpoint.")
        {
            Offset = offset,
            TensorName = source.RecordName,
        };

    public static InvalidCheckpointException Limit(PickleSource source, long offset, string what) =>
        new(SafeCkptErrorCode.PickleLimitExceeded, source.FilePath, $"{source.FilePath}: refused: {source.RecordName} exceeds a safety limit at byte {offset}: {what}. Real checkpoints stay far below it; this file is crafted or corrupt.")
        {
            Offset = offset,
            TensorName = source.RecordName,
        };

    public static UnsafeCheckpointException Unsafe(PickleSource source, long offset, SafeCkptErrorCode code, string what) =>
        new(code, source.FilePath, $"{source.FilePath}: refused: {what}, at {source.Where(offset)}. Nothing was executed. Do not load this file with torch.load; get the model as .safetensors from a trusted source.")
        {
            Offset = offset,
            RecordName = source.RecordName,
        };

    public static InvalidCheckpointException Unsupported(PickleSource source, long offset, string what) =>
        new(SafeCkptErrorCode.UnsupportedConstruct, source.FilePath, $"{source.FilePath}: not supported: {what}, at {source.Where(offset)}. Nothing in it runs code, but SafeCkpt does not read or convert it; load and re-save the file with torch and save it as .safetensors.")
        {
            Offset = offset,
            TensorName = source.RecordName,
        };
}
