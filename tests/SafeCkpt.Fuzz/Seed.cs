using System.Buffers.Binary;

namespace SafeCkpt.Fuzz;

/// <summary>What a seed looks like, for choosing the mutators that keep its container valid.</summary>
internal enum SeedKind
{
    Other,
    Zip,
    PickleStream,
    Safetensors,
}

/// <summary>
/// One corpus entry: its bytes and, worked out once, its structure: the zip's entries, the pickles of a bare or
/// legacy file, the safetensors header length, and the positions of binary length fields.
/// </summary>
internal sealed class Seed
{
    private List<(int Offset, int Width)>? _lengthFields;

    public Seed(string name, byte[] data)
    {
        Name = name;
        Data = data;
        Zip = ZipBox.TryRead(data);
        if (Zip is not null && Zip.Count > 0)
        {
            Kind = SeedKind.Zip;
        }
        else if (data.Length >= 10 && BinaryPrimitives.ReadUInt64LittleEndian(data) is ulong n && n >= 2 && n <= (ulong)(data.Length - 8) && data[8] == (byte)'{')
        {
            Kind = SeedKind.Safetensors;
        }
        else
        {
            Pickles = FindPickles(data);
            Kind = Pickles.Count > 0 ? SeedKind.PickleStream : SeedKind.Other;
        }
    }

    public string Name { get; }

    public byte[] Data { get; }

    public SeedKind Kind { get; }

    /// <summary>The zip's entries in order, when the seed is a zip.</summary>
    public List<ZipItem>? Zip { get; }

    /// <summary>The [start, end) ranges of the complete pickles a bare or legacy file starts with.</summary>
    public List<(int Start, int End)> Pickles { get; } = [];

    /// <summary>Offsets and widths (2, 4 or 8) of little-endian fields that hold lengths, counts or offsets.</summary>
    public List<(int Offset, int Width)> LengthFields => _lengthFields ??= FindLengthFields();

    /// <summary>Every pickle the seed holds, for the opcode donor pool.</summary>
    public IEnumerable<byte[]> AllPickles()
    {
        if (Zip is not null)
        {
            foreach (ZipItem item in Zip)
            {
                if (IsPickleEntry(item))
                {
                    yield return item.Data;
                }
            }
        }

        foreach ((int s, int e) in Pickles)
        {
            yield return Data[s..e];
        }
    }

    public static bool IsPickleEntry(ZipItem item) =>
        item.Name.EndsWith(".pkl", StringComparison.Ordinal) || (item.Data.Length >= 2 && item.Data[0] == 0x80 && item.Data[1] <= 5);

    private static List<(int Start, int End)> FindPickles(byte[] data)
    {
        var found = new List<(int, int)>();
        int pos = 0;
        while (pos < data.Length && found.Count < 8)
        {
            List<PickleOp> ops = PickleOps.Parse(data, pos, out bool complete);
            if (!complete || ops.Count == 0)
            {
                break;
            }

            int end = ops[^1].Start + ops[^1].Length;
            found.Add((pos, end));
            pos = end;
        }

        return found;
    }

    private List<(int Offset, int Width)> FindLengthFields()
    {
        var fields = new List<(int, int)>();
        switch (Kind)
        {
            case SeedKind.Zip:
                ZipBox.LengthFields(Data, fields);
                break;
            case SeedKind.Safetensors:
                fields.Add((0, 8));
                break;
            case SeedKind.PickleStream:
                foreach ((int s, int e) in Pickles)
                {
                    foreach (PickleOp op in PickleOps.Parse(Data.AsSpan(0, e), s, out _))
                    {
                        if (op.CountSize > 0)
                        {
                            fields.Add((op.ArgStart, op.CountSize));
                        }
                        else if (PickleOps.Spec(op.Code) is { Kind: ArgKind.Fixed, Size: 2 or 4 or 8 } spec)
                        {
                            fields.Add((op.ArgStart, spec.Size));
                        }
                    }
                }

                // A legacy file's storages follow its pickles, each after an 8-byte element count.
                if (Pickles.Count > 0 && Pickles[^1].End + 8 <= Data.Length)
                {
                    fields.Add((Pickles[^1].End, 8));
                }

                break;
        }

        return fields;
    }
}
