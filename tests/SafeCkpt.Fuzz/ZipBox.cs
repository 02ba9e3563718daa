using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace SafeCkpt.Fuzz;

/// <summary>One entry of a zip: its name and its uncompressed bytes.</summary>
internal sealed record ZipItem(string Name, byte[] Data);

/// <summary>
/// Takes a zip apart into (name, bytes) entries and puts entries back together as a consistent zip of stored
/// records laid out as torch.save lays them out (data aligned to 64 bytes with a padding extra field), so a mutated
/// record reaches the pickle machine behind a valid container: sizes, CRCs and offsets are always right.
/// </summary>
internal static class ZipBox
{
    private const int Alignment = 64;

    /// <summary>The entries in central-directory order, or null when the bytes are not a zip System.IO.Compression reads.</summary>
    public static List<ZipItem>? TryRead(byte[] bytes)
    {
        if (bytes.Length < 22 || bytes[0] != (byte)'P' || bytes[1] != (byte)'K')
        {
            return null;
        }

        try
        {
            using var archive = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
            var items = new List<ZipItem>(archive.Entries.Count);
            foreach (ZipArchiveEntry e in archive.Entries)
            {
                if (e.Length > 16 << 20)
                {
                    return null;
                }

                using Stream s = e.Open();
                using var ms = new MemoryStream();
                s.CopyTo(ms);
                items.Add(new ZipItem(e.FullName, ms.ToArray()));
            }

            return items;
        }
        catch (InvalidDataException)
        {
            return null;
        }
        catch (NotSupportedException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Writes the entries as a zip of stored records, in order.</summary>
    public static byte[] Write(IReadOnlyList<ZipItem> items)
    {
        using var ms = new MemoryStream();
        using var central = new MemoryStream();
        Span<byte> local = stackalloc byte[30];
        Span<byte> cd = stackalloc byte[46];
        foreach (ZipItem item in items)
        {
            byte[] name = Encoding.UTF8.GetBytes(item.Name);
            uint crc = Crc32.HashToUInt32(item.Data);
            long headerOffset = ms.Position;
            long dataStart = headerOffset + 30 + name.Length + 4;
            int pad = (int)((Alignment - (dataStart % Alignment)) % Alignment);
            int extraLength = 4 + pad;

            local.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(local, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(local[4..], 20);
            BinaryPrimitives.WriteUInt32LittleEndian(local[14..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(local[18..], (uint)item.Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(local[22..], (uint)item.Data.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(local[26..], (ushort)name.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(local[28..], (ushort)extraLength);
            ms.Write(local);
            ms.Write(name);
            WriteExtra(ms, pad);
            ms.Write(item.Data);

            cd.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(cd, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(cd[4..], 20);
            BinaryPrimitives.WriteUInt16LittleEndian(cd[6..], 20);
            BinaryPrimitives.WriteUInt32LittleEndian(cd[16..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(cd[20..], (uint)item.Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(cd[24..], (uint)item.Data.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(cd[28..], (ushort)name.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(cd[42..], (uint)headerOffset);
            central.Write(cd);
            central.Write(name);
        }

        long cdOffset = ms.Position;
        central.Position = 0;
        central.CopyTo(ms);
        Span<byte> eocd = stackalloc byte[22];
        eocd.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(eocd, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[8..], (ushort)items.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[10..], (ushort)items.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[12..], (uint)central.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[16..], (uint)cdOffset);
        ms.Write(eocd);
        return ms.ToArray();
    }

    /// <summary>The offsets of length and offset fields in zip records found by their signatures.</summary>
    public static void LengthFields(byte[] d, List<(int Offset, int Width)> fields)
    {
        for (int i = 0; i + 4 <= d.Length; i++)
        {
            if (d[i] != (byte)'P' || d[i + 1] != (byte)'K')
            {
                continue;
            }

            uint sig = BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(i));
            (int Offset, int Width)[] rel = sig switch
            {
                0x04034b50 => [(14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
                0x02014b50 => [(16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (42, 4)],
                0x06054b50 => [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
                0x06064b50 => [(4, 8), (24, 8), (32, 8), (40, 8), (48, 8)],
                0x07064b50 => [(8, 8)],
                _ => [],
            };
            foreach ((int o, int w) in rel)
            {
                if (i + o + w <= d.Length)
                {
                    fields.Add((i + o, w));
                }
            }
        }
    }

    private static void WriteExtra(Stream s, int pad)
    {
        // torch.save's padding record: id "FB", then zeros up to the alignment.
        Span<byte> head = [(byte)'F', (byte)'B', (byte)pad, (byte)(pad >> 8)];
        s.Write(head);
        for (int i = 0; i < pad; i++)
        {
            s.WriteByte((byte)'Z');
        }
    }
}
