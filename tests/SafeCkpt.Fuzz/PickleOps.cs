using System.Buffers.Binary;

namespace SafeCkpt.Fuzz;

/// <summary>How an opcode's argument is laid out in the stream.</summary>
internal enum ArgKind
{
    None,
    Fixed,
    Counted,
    Lines,
}

/// <summary>One opcode of Python's pickle protocols 0-5 and the shape of its argument.</summary>
internal readonly record struct OpSpec(byte Code, string Name, ArgKind Kind, int Size);

/// <summary>One opcode found in a stream: where it starts, how long it is with its argument, where the argument is.</summary>
internal readonly record struct PickleOp(int Start, int Length, byte Code, int ArgStart, int CountSize);

/// <summary>
/// The pickle opcode table (CPython Lib/pickle.py), kept independent of SafeCkpt's own on purpose: the fuzzer must
/// not inherit the reader's idea of where an opcode ends.
/// </summary>
internal static class PickleOps
{
    public static readonly OpSpec[] All =
    [
        new((byte)'(', "MARK", ArgKind.None, 0), new((byte)'.', "STOP", ArgKind.None, 0),
        new((byte)'0', "POP", ArgKind.None, 0), new((byte)'1', "POP_MARK", ArgKind.None, 0),
        new((byte)'2', "DUP", ArgKind.None, 0), new((byte)'N', "NONE", ArgKind.None, 0),
        new((byte)'Q', "BINPERSID", ArgKind.None, 0), new((byte)'R', "REDUCE", ArgKind.None, 0),
        new((byte)'a', "APPEND", ArgKind.None, 0), new((byte)'b', "BUILD", ArgKind.None, 0),
        new((byte)'d', "DICT", ArgKind.None, 0), new((byte)'}', "EMPTY_DICT", ArgKind.None, 0),
        new((byte)'e', "APPENDS", ArgKind.None, 0), new((byte)'l', "LIST", ArgKind.None, 0),
        new((byte)']', "EMPTY_LIST", ArgKind.None, 0), new((byte)'o', "OBJ", ArgKind.None, 0),
        new((byte)'s', "SETITEM", ArgKind.None, 0), new((byte)'t', "TUPLE", ArgKind.None, 0),
        new((byte)')', "EMPTY_TUPLE", ArgKind.None, 0), new((byte)'u', "SETITEMS", ArgKind.None, 0),
        new(0x81, "NEWOBJ", ArgKind.None, 0), new(0x85, "TUPLE1", ArgKind.None, 0),
        new(0x86, "TUPLE2", ArgKind.None, 0), new(0x87, "TUPLE3", ArgKind.None, 0),
        new(0x88, "NEWTRUE", ArgKind.None, 0), new(0x89, "NEWFALSE", ArgKind.None, 0),
        new(0x8f, "EMPTY_SET", ArgKind.None, 0), new(0x90, "ADDITEMS", ArgKind.None, 0),
        new(0x91, "FROZENSET", ArgKind.None, 0), new(0x92, "NEWOBJ_EX", ArgKind.None, 0),
        new(0x93, "STACK_GLOBAL", ArgKind.None, 0), new(0x94, "MEMOIZE", ArgKind.None, 0),
        new(0x97, "NEXT_BUFFER", ArgKind.None, 0), new(0x98, "READONLY_BUFFER", ArgKind.None, 0),
        new((byte)'J', "BININT", ArgKind.Fixed, 4), new((byte)'K', "BININT1", ArgKind.Fixed, 1),
        new((byte)'M', "BININT2", ArgKind.Fixed, 2), new((byte)'h', "BINGET", ArgKind.Fixed, 1),
        new((byte)'j', "LONG_BINGET", ArgKind.Fixed, 4), new((byte)'q', "BINPUT", ArgKind.Fixed, 1),
        new((byte)'r', "LONG_BINPUT", ArgKind.Fixed, 4), new(0x80, "PROTO", ArgKind.Fixed, 1),
        new(0x82, "EXT1", ArgKind.Fixed, 1), new(0x83, "EXT2", ArgKind.Fixed, 2),
        new(0x84, "EXT4", ArgKind.Fixed, 4), new((byte)'G', "BINFLOAT", ArgKind.Fixed, 8),
        new(0x95, "FRAME", ArgKind.Fixed, 8),
        new((byte)'U', "SHORT_BINSTRING", ArgKind.Counted, 1), new((byte)'C', "SHORT_BINBYTES", ArgKind.Counted, 1),
        new(0x8c, "SHORT_BINUNICODE", ArgKind.Counted, 1), new(0x8a, "LONG1", ArgKind.Counted, 1),
        new((byte)'T', "BINSTRING", ArgKind.Counted, 4), new((byte)'B', "BINBYTES", ArgKind.Counted, 4),
        new((byte)'X', "BINUNICODE", ArgKind.Counted, 4), new(0x8b, "LONG4", ArgKind.Counted, 4),
        new(0x8d, "BINUNICODE8", ArgKind.Counted, 8), new(0x8e, "BINBYTES8", ArgKind.Counted, 8),
        new(0x96, "BYTEARRAY8", ArgKind.Counted, 8),
        new((byte)'I', "INT", ArgKind.Lines, 1), new((byte)'L', "LONG", ArgKind.Lines, 1),
        new((byte)'F', "FLOAT", ArgKind.Lines, 1), new((byte)'S', "STRING", ArgKind.Lines, 1),
        new((byte)'V', "UNICODE", ArgKind.Lines, 1), new((byte)'P', "PERSID", ArgKind.Lines, 1),
        new((byte)'g', "GET", ArgKind.Lines, 1), new((byte)'p', "PUT", ArgKind.Lines, 1),
        new((byte)'c', "GLOBAL", ArgKind.Lines, 2), new((byte)'i', "INST", ArgKind.Lines, 2),
    ];

    private static readonly OpSpec?[] ByCode = BuildIndex();

    public static OpSpec? Spec(byte code) => ByCode[code];

    /// <summary>
    /// Splits one pickle starting at <paramref name="start"/> into opcodes, up to and including STOP. Stops early
    /// at an unknown opcode or an argument running past the end; <paramref name="complete"/> says which.
    /// </summary>
    public static List<PickleOp> Parse(ReadOnlySpan<byte> data, int start, out bool complete)
    {
        var ops = new List<PickleOp>();
        int pos = start;
        complete = false;
        while (pos < data.Length)
        {
            byte code = data[pos];
            if (ByCode[code] is not OpSpec spec)
            {
                return ops;
            }

            int argStart = pos + 1;
            long end;
            switch (spec.Kind)
            {
                case ArgKind.None:
                    end = argStart;
                    break;
                case ArgKind.Fixed:
                    end = argStart + spec.Size;
                    break;
                case ArgKind.Counted:
                    if (argStart + spec.Size > data.Length)
                    {
                        return ops;
                    }

                    ulong n = spec.Size switch
                    {
                        1 => data[argStart],
                        4 => BinaryPrimitives.ReadUInt32LittleEndian(data[argStart..]),
                        _ => BinaryPrimitives.ReadUInt64LittleEndian(data[argStart..]),
                    };
                    if (n > (ulong)data.Length)
                    {
                        return ops;
                    }

                    end = argStart + spec.Size + (long)n;
                    break;
                default:
                    end = argStart;
                    for (int l = 0; l < spec.Size; l++)
                    {
                        int nl = end < data.Length ? data[(int)end..].IndexOf((byte)'\n') : -1;
                        if (nl < 0)
                        {
                            return ops;
                        }

                        end += nl + 1;
                    }

                    break;
            }

            if (end > data.Length)
            {
                return ops;
            }

            ops.Add(new PickleOp(pos, (int)(end - pos), code, argStart, spec.Kind == ArgKind.Counted ? spec.Size : 0));
            pos = (int)end;
            if (code == (byte)'.')
            {
                complete = true;
                return ops;
            }
        }

        return ops;
    }

    private static OpSpec?[] BuildIndex()
    {
        var index = new OpSpec?[256];
        foreach (OpSpec s in All)
        {
            index[s.Code] = s;
        }

        return index;
    }
}
