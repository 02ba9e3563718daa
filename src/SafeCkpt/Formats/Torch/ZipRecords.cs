using System.Buffers.Binary;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// The zip records a torch checkpoint is made of (PKWARE APPNOTE 4.3, with ZIP64), in one place: each record's
/// signature, fixed length and field offsets, read and written only through the record types below. The reader
/// (<see cref="ZipDirectory"/>), the writer (<see cref="CkptWriter"/>) and the format sniffer share them, as the
/// BCL's ZipBlocks serve both sides of System.IO.Compression.
/// </summary>
internal static class ZipRecords
{
    /// <summary>A 32-bit size or offset field that says "see the ZIP64 record" (and the largest value a 32-bit field holds).</summary>
    public const uint Max32 = 0xFFFFFFFF;

    /// <summary>A 16-bit count or disk field that says "see the ZIP64 record".</summary>
    public const ushort Max16 = 0xFFFF;

    /// <summary>The longest end-record comment: the 16-bit length field's maximum.</summary>
    public const int MaxComment = 0xFFFF;

    /// <summary>Compression method 0: stored.</summary>
    public const int Stored = 0;

    /// <summary>Compression method 8: deflate.</summary>
    public const int Deflate = 8;

    /// <summary>The version fields of a ZIP64 writer (spec 4.5).</summary>
    public const ushort VersionZip64 = 45;

    /// <summary>The version fields of a plain writer (spec 2.0).</summary>
    public const ushort VersionDefault = 20;

    /// <summary>"Made by" host Unix (3) in the high byte, spec 4.5 in the low, as torch.save (miniz) writes.</summary>
    public const ushort MadeByUnix = (3 << 8) | VersionZip64;

    /// <summary>The DOS date 1980-01-01, the earliest a zip can say (torch.save writes no real time either).</summary>
    public const ushort DosDate1980 = 0x21;

    /// <summary>An extra field's header: its id and its data length, two bytes each.</summary>
    public const int ExtraHeaderLength = 4;

    /// <summary>General purpose flag bits.</summary>
    public static class Flags
    {
        /// <summary>Bit 0: the entry is encrypted.</summary>
        public const int Encrypted = 0x0001;

        /// <summary>Bit 3: CRC-32 and sizes follow the data in a data descriptor.</summary>
        public const int DataDescriptor = 0x0008;

        /// <summary>Bit 6: strong encryption.</summary>
        public const int StrongEncryption = 0x0040;

        /// <summary>Bit 11: the name is UTF-8.</summary>
        public const int Utf8Name = 0x0800;

        /// <summary>Bit 13: the central directory is encrypted and local header values masked.</summary>
        public const int MaskedHeaders = 0x2000;

        /// <summary>Any form of encryption.</summary>
        public const int AnyEncryption = Encrypted | StrongEncryption | MaskedHeaders;
    }

    /// <summary>Reads an extra field's header: its id and the length of the data after it.</summary>
    public static (ushort Id, ushort Length) ReadExtraHeader(ReadOnlySpan<byte> field) => (U16(field, 0), U16(field, 2));

    /// <summary>Writes an extra field's header.</summary>
    public static void WriteExtraHeader(Span<byte> field, ushort id, ushort length)
    {
        Put(field, 0, id);
        Put(field, 2, length);
    }

    /// <summary>Whether <paramref name="record"/> starts with <paramref name="signature"/>.</summary>
    public static bool HasSignature(ReadOnlySpan<byte> record, uint signature) => record.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(record) == signature;

    /// <summary>
    /// The ZIP64 extended information extra field (4.5.3): the 8-byte forms of exactly the fields whose short form is
    /// saturated (<see cref="Max32"/>), in the order size, compressed size, local header offset, then a 4-byte disk
    /// number (when the 16-bit one is <see cref="Max16"/>).
    /// </summary>
    internal static class Zip64Extra
    {
        /// <summary>The extra field's id.</summary>
        public const ushort Id = 0x0001;

        /// <summary>Writes the field (header and <paramref name="values"/>, already in the spec's order); returns its length.</summary>
        public static int Write(Span<byte> destination, ReadOnlySpan<long> values)
        {
            WriteExtraHeader(destination, Id, (ushort)(8 * values.Length));
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(destination[(ExtraHeaderLength + (8 * i))..], values[i]);
            }

            return ExtraHeaderLength + (8 * values.Length);
        }

        /// <summary>Reads the values a header needs from the field's data (after its 4-byte header); false when the data is too short for them.</summary>
        public static bool TryRead(ReadOnlySpan<byte> data, bool size, bool compressedSize, bool localHeaderOffset, bool disk, out (ulong Size, ulong CompressedSize, ulong LocalHeaderOffset, uint Disk) values)
        {
            values = default;
            int at = 0;
            if ((size && !Next(data, ref at, out values.Size)) || (compressedSize && !Next(data, ref at, out values.CompressedSize)) || (localHeaderOffset && !Next(data, ref at, out values.LocalHeaderOffset)))
            {
                return false;
            }

            if (disk)
            {
                if (data.Length - at < 4)
                {
                    return false;
                }

                values.Disk = U32(data, at);
            }

            return true;

            static bool Next(ReadOnlySpan<byte> data, ref int at, out ulong value)
            {
                value = data.Length - at >= 8 ? U64(data, at) : 0;
                at += 8;
                return data.Length - at >= 0;
            }
        }
    }

    /// <summary>The local file header before each entry's data (4.3.7); a name and an extra field follow it.</summary>
    internal readonly record struct LocalHeader(ushort VersionNeeded, ushort Flags, ushort Method, ushort Time, ushort Date, uint Crc, uint CompressedSize, uint Size, ushort NameLength, ushort ExtraLength)
    {
        /// <summary>"PK\x03\x04".</summary>
        public const uint Signature = 0x04034b50;

        /// <summary>The fixed part's length; the name starts here.</summary>
        public const int Length = 30;

        public static LocalHeader Read(ReadOnlySpan<byte> b) => new(
            U16(b, 4), U16(b, 6), U16(b, 8), U16(b, 10), U16(b, 12), U32(b, 14), U32(b, 18), U32(b, 22), U16(b, 26), U16(b, 28));

        public void Write(Span<byte> b)
        {
            Put(b, 0, Signature);
            Put(b, 4, VersionNeeded);
            Put(b, 6, Flags);
            Put(b, 8, Method);
            Put(b, 10, Time);
            Put(b, 12, Date);
            Put(b, 14, Crc);
            Put(b, 18, CompressedSize);
            Put(b, 22, Size);
            Put(b, 26, NameLength);
            Put(b, 28, ExtraLength);
        }
    }

    /// <summary>A central directory file header (4.3.12); a name, an extra field and a comment follow it.</summary>
    internal readonly record struct CentralHeader(
        ushort VersionMadeBy, ushort VersionNeeded, ushort Flags, ushort Method, ushort Time, ushort Date, uint Crc, uint CompressedSize, uint Size,
        ushort NameLength, ushort ExtraLength, ushort CommentLength, ushort DiskStart, ushort InternalAttributes, uint ExternalAttributes, uint LocalHeaderOffset)
    {
        /// <summary>"PK\x01\x02".</summary>
        public const uint Signature = 0x02014b50;

        /// <summary>The fixed part's length; the name starts here.</summary>
        public const int Length = 46;

        public static CentralHeader Read(ReadOnlySpan<byte> b) => new(
            U16(b, 4), U16(b, 6), U16(b, 8), U16(b, 10), U16(b, 12), U16(b, 14), U32(b, 16), U32(b, 20), U32(b, 24),
            U16(b, 28), U16(b, 30), U16(b, 32), U16(b, 34), U16(b, 36), U32(b, 38), U32(b, 42));

        public void Write(Span<byte> b)
        {
            Put(b, 0, Signature);
            Put(b, 4, VersionMadeBy);
            Put(b, 6, VersionNeeded);
            Put(b, 8, Flags);
            Put(b, 10, Method);
            Put(b, 12, Time);
            Put(b, 14, Date);
            Put(b, 16, Crc);
            Put(b, 20, CompressedSize);
            Put(b, 24, Size);
            Put(b, 28, NameLength);
            Put(b, 30, ExtraLength);
            Put(b, 32, CommentLength);
            Put(b, 34, DiskStart);
            Put(b, 36, InternalAttributes);
            Put(b, 38, ExternalAttributes);
            Put(b, 42, LocalHeaderOffset);
        }
    }

    /// <summary>The end of central directory record (4.3.16); a comment follows it.</summary>
    internal readonly record struct EndRecord(ushort Disk, ushort CentralDirectoryDisk, ushort DiskEntries, ushort Entries, uint CentralDirectorySize, uint CentralDirectoryOffset, ushort CommentLength)
    {
        /// <summary>"PK\x05\x06".</summary>
        public const uint Signature = 0x06054b50;

        /// <summary>The record's length without the comment.</summary>
        public const int Length = 22;

        public static EndRecord Read(ReadOnlySpan<byte> b) => new(U16(b, 4), U16(b, 6), U16(b, 8), U16(b, 10), U32(b, 12), U32(b, 16), U16(b, 20));

        public void Write(Span<byte> b)
        {
            Put(b, 0, Signature);
            Put(b, 4, Disk);
            Put(b, 6, CentralDirectoryDisk);
            Put(b, 8, DiskEntries);
            Put(b, 10, Entries);
            Put(b, 12, CentralDirectorySize);
            Put(b, 16, CentralDirectoryOffset);
            Put(b, 20, CommentLength);
        }
    }

    /// <summary>The ZIP64 end of central directory record (4.3.14), version 1, without an extensible data sector.</summary>
    internal readonly record struct Zip64EndRecord(ushort VersionMadeBy, ushort VersionNeeded, uint Disk, uint CentralDirectoryDisk, ulong DiskEntries, ulong Entries, ulong CentralDirectorySize, ulong CentralDirectoryOffset)
    {
        /// <summary>"PK\x06\x06".</summary>
        public const uint Signature = 0x06064b50;

        /// <summary>The record's length.</summary>
        public const int Length = 56;

        public static Zip64EndRecord Read(ReadOnlySpan<byte> b) => new(U16(b, 12), U16(b, 14), U32(b, 16), U32(b, 20), U64(b, 24), U64(b, 32), U64(b, 40), U64(b, 48));

        public void Write(Span<byte> b)
        {
            Put(b, 0, Signature);
            Put(b, 4, (ulong)(Length - 12));    // the size of the rest of the record: all but the signature and this field
            Put(b, 12, VersionMadeBy);
            Put(b, 14, VersionNeeded);
            Put(b, 16, Disk);
            Put(b, 20, CentralDirectoryDisk);
            Put(b, 24, DiskEntries);
            Put(b, 32, Entries);
            Put(b, 40, CentralDirectorySize);
            Put(b, 48, CentralDirectoryOffset);
        }
    }

    /// <summary>The ZIP64 end of central directory locator (4.3.15), just before the end record.</summary>
    internal readonly record struct Zip64Locator(uint EndRecordDisk, ulong EndRecordOffset, uint TotalDisks)
    {
        /// <summary>"PK\x06\x07".</summary>
        public const uint Signature = 0x07064b50;

        /// <summary>The record's length.</summary>
        public const int Length = 20;

        public static Zip64Locator Read(ReadOnlySpan<byte> b) => new(U32(b, 4), U64(b, 8), U32(b, 16));

        public void Write(Span<byte> b)
        {
            Put(b, 0, Signature);
            Put(b, 4, EndRecordDisk);
            Put(b, 8, EndRecordOffset);
            Put(b, 16, TotalDisks);
        }
    }

    /// <summary>The data descriptor after an entry's data (4.3.9), with its optional signature; ZIP64 entries have 8-byte sizes.</summary>
    internal readonly record struct DataDescriptor(uint Crc, ulong CompressedSize, ulong Size, bool Zip64)
    {
        /// <summary>"PK\x07\x08".</summary>
        public const uint Signature = 0x08074b50;

        /// <summary>The descriptor's length: signature, CRC-32 and two sizes of 4 bytes (8 for ZIP64 entries).</summary>
        public static int LengthOf(bool zip64) => zip64 ? 24 : 16;

        public void Write(Span<byte> b)
        {
            Put(b, 0, Signature);
            Put(b, 4, Crc);
            if (Zip64)
            {
                Put(b, 8, CompressedSize);
                Put(b, 16, Size);
            }
            else
            {
                Put(b, 8, (uint)CompressedSize);
                Put(b, 12, (uint)Size);
            }
        }
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);

    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);

    private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);

    private static void Put(Span<byte> b, int at, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b[at..], v);

    private static void Put(Span<byte> b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b[at..], v);

    private static void Put(Span<byte> b, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b[at..], v);
}
