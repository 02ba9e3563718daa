using System.IO.Compression;
using System.Text;
using SafeCkpt.IO;
using static SafeCkpt.Formats.Torch.ZipRecords;

namespace SafeCkpt.Formats.Torch;

/// <summary>One zip entry, as the central directory names it, with the file offset of its data.</summary>
/// <param name="Name">The entry name from the central directory (torch uses these, not the local header's).</param>
/// <param name="Method">0 stored, 8 deflate.</param>
/// <param name="CompressedSize">Bytes of data in the file.</param>
/// <param name="Size">Bytes after decompression.</param>
/// <param name="LocalHeaderOffset">Where the local header starts.</param>
/// <param name="DataOffset">Where the entry's data starts: after the local header's fixed part, name and extra field.</param>
internal sealed record ZipEntry(string Name, int Method, long CompressedSize, long Size, long LocalHeaderOffset, long DataOffset)
{
    public bool IsStored => Method == ZipRecords.Stored;
}

/// <summary>
/// A zip central directory parsed by hand (System.IO.Compression gives no data offsets, dotnet.md 4.3), read the
/// way torch's reader (miniz) reads it, and refused wherever another reader could read it differently: the
/// end-of-central-directory (EOCD) record is the LAST signature with a whole record after it (miniz; Python's zipfile
/// also takes the last), its comment must reach exactly the end of the file, and no other plausible EOCD may exist
/// (one hidden in another's comment was a scan-clean payload); names are unique even ignoring ASCII case (miniz looks
/// names up case-insensitively) and free of traversal; each local header agrees with its central entry (name,
/// flags, method, and CRC and sizes unless a data descriptor follows); ZIP64, stored or deflated entries only, no
/// encryption; each entry's data inside the file, before the central directory, not overlapping another entry.
/// </summary>
internal sealed class ZipDirectory
{
    /// <summary>The most entries accepted (an SD checkpoint has about 1,200).</summary>
    public const int MaxEntries = 1_000_000;

    /// <summary>The largest central directory read into memory.</summary>
    public const long MaxCentralDirectoryBytes = 256L << 20;

    private readonly Dictionary<string, ZipEntry> _byName;

    private ZipDirectory(List<ZipEntry> entries, long centralDirectoryOffset)
    {
        Entries = entries;
        CentralDirectoryOffset = centralDirectoryOffset;
        _byName = entries.ToDictionary(e => e.Name, AsciiIgnoreCase.Instance);
    }

    /// <summary>The entries in central-directory order.</summary>
    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>Where the central directory starts.</summary>
    public long CentralDirectoryOffset { get; }

    /// <summary>Finds an entry as torch does (miniz's lookup ignores ASCII case); names are unique that way.</summary>
    public ZipEntry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// Tells whether a file that torch reads as a pickle also opens as a zip archive with entries (a polyglot that a
    /// zip-based checker would inspect instead of the pickle torch runs). A stray EOCD signature inside tensor bytes
    /// (PyTorch's own fake_zip test files) is not one.
    /// </summary>
    public static bool IsPolyglotZip(ByteSource file)
    {
        if (SearchTail(file).Candidates.Count == 0)
        {
            return false;
        }

        try
        {
            return Read(file).Entries.Count > 0;
        }
        catch (SafeCkptException)
        {
            return false;
        }
    }

    /// <summary>Reads and validates the directory of <paramref name="file"/>.</summary>
    public static ZipDirectory Read(ByteSource file)
    {
        string path = file.Name;
        long length = file.Length;
        (List<(long Offset, int Comment)> candidates, long? lastSignature) = SearchTail(file);
        if (candidates.Count == 0)
        {
            throw Fail(path, length, "no end-of-central-directory record ends the file. It is truncated, or has bytes appended after the zip (a polyglot). Download it again.");
        }

        // miniz (torch) takes the last signature followed by a whole record. An earlier record whose comment also
        // reaches the end of the file is what readers that want the comment to end the file take: two archives.
        long eocd = candidates[^1].Offset;
        long[] rivals = candidates.Take(candidates.Count - 1).Where(c => c.Offset + EndRecord.Length + c.Comment == length).Select(c => c.Offset).ToArray();
        if (rivals.Length > 0)
        {
            throw Fail(path, rivals[0], $"the file has more than one end-of-central-directory record (at bytes {string.Join(", ", rivals)} and {eocd}), the earlier one's comment hiding the later one. torch reads the last; other readers take the first and see a different archive. Do not trust this file.", SafeCkptErrorCode.AmbiguousArchive);
        }

        if (eocd + EndRecord.Length + candidates[^1].Comment != length)
        {
            throw Fail(path, eocd, "the end-of-central-directory record's comment does not reach the end of the file: bytes are appended after the zip (a polyglot), or it is damaged.");
        }

        if (lastSignature > eocd)
        {
            throw Fail(path, lastSignature.Value, "an end-of-central-directory signature sits in the last 21 bytes, inside the real record's comment; Python's zipfile takes it and torch does not. Do not trust this file.", SafeCkptErrorCode.AmbiguousArchive);
        }

        EndRecord e = EndRecord.Read(file.ReadAt(eocd, EndRecord.Length));
        int disk = e.Disk;
        int cdDisk = e.CentralDirectoryDisk;
        long diskEntries = e.DiskEntries;
        long count = e.Entries;
        long cdSize = e.CentralDirectorySize;
        long cdOffset = e.CentralDirectoryOffset;
        long cdLimit = eocd;

        bool needZip64 = count == Max16 || diskEntries == Max16 || cdSize == Max32 || cdOffset == Max32 || disk == Max16 || cdDisk == Max16;
        byte[] loc = eocd >= Zip64Locator.Length ? file.ReadAt(eocd - Zip64Locator.Length, Zip64Locator.Length) : [];
        bool hasLocator = loc.Length == Zip64Locator.Length && HasSignature(loc, Zip64Locator.Signature);

        // torch (miniz with MZ_ZIP_FLAG_WRITE_ZIP64) writes ZIP64 end records even for small files.
        if (needZip64 || hasLocator)
        {
            if (!hasLocator)
            {
                throw Fail(path, eocd, "the end record asks for ZIP64 but the ZIP64 locator is missing.");
            }

            Zip64Locator locator = Zip64Locator.Read(loc);
            long z64 = Clamp(locator.EndRecordOffset);
            if (locator.TotalDisks > 1 || z64 > eocd - Zip64Locator.Length - Zip64EndRecord.Length)
            {
                throw Fail(path, eocd - Zip64Locator.Length, "the ZIP64 locator points outside the file or names several disks.");
            }

            byte[] z = file.ReadAt(z64, Zip64EndRecord.Length);
            if (!HasSignature(z, Zip64EndRecord.Signature))
            {
                throw Fail(path, z64, "the ZIP64 end record is missing where the locator points.");
            }

            Zip64EndRecord end = Zip64EndRecord.Read(z);
            disk = (int)end.Disk;
            cdDisk = (int)end.CentralDirectoryDisk;
            diskEntries = Clamp(end.DiskEntries);
            count = Clamp(end.Entries);
            cdSize = Clamp(end.CentralDirectorySize);
            cdOffset = Clamp(end.CentralDirectoryOffset);
            cdLimit = z64;
        }

        if (disk != 0 || cdDisk != 0 || diskEntries != count)
        {
            throw Fail(path, eocd, "the archive spans several disks; PyTorch never writes such files.");
        }

        if (count > MaxEntries)
        {
            throw Fail(path, eocd, $"the archive declares {count:N0} entries, more than the {MaxEntries:N0} accepted.");
        }

        if (cdSize > MaxCentralDirectoryBytes || cdOffset > cdLimit || cdSize != cdLimit - cdOffset)
        {
            throw Fail(path, eocd, $"the central directory ({cdSize:N0} bytes at {cdOffset:N0}) does not end where the end record starts ({cdLimit:N0}); bytes are hidden between them or the file is damaged.");
        }

        byte[] cd = file.ReadAt(cdOffset, (int)cdSize);
        var entries = new List<ZipEntry>((int)Math.Min(count, 4096));
        var names = new HashSet<string>(AsciiIgnoreCase.Instance);
        int p = 0;
        for (long i = 0; i < count; i++)
        {
            long at = cdOffset + p;
            if (cd.Length - p < CentralHeader.Length || !HasSignature(cd.AsSpan(p), CentralHeader.Signature))
            {
                throw Fail(path, at, $"central directory entry {i} is missing or truncated.");
            }

            ReadOnlySpan<byte> h = cd.AsSpan(p);
            CentralHeader c = CentralHeader.Read(h);
            int flags = c.Flags;
            int method = c.Method;
            long comp = c.CompressedSize;
            long size = c.Size;
            int nameLen = c.NameLength;
            int extraLen = c.ExtraLength;
            int commentLen = c.CommentLength;
            int startDisk = c.DiskStart;
            long lho = c.LocalHeaderOffset;
            if (cd.Length - p < (long)CentralHeader.Length + nameLen + extraLen + commentLen)
            {
                throw Fail(path, at, $"central directory entry {i} is truncated.");
            }

            ReadOnlySpan<byte> rawName = h.Slice(CentralHeader.Length, nameLen);
            string name = DecodeName(rawName, path, at);
            ParseZip64Extra(h.Slice(CentralHeader.Length + nameLen, extraLen), ref size, ref comp, ref lho, ref startDisk, path, name, at);
            p += CentralHeader.Length + nameLen + extraLen + commentLen;

            CheckName(name, path, at);
            if (!names.Add(name))
            {
                bool exact = entries.Any(x => x.Name == name);
                throw exact
                    ? Fail(path, at, $"the entry '{name}' appears twice. Two zip readers could pick different copies: do not trust this file.", SafeCkptErrorCode.DuplicateKey, name)
                    : Fail(path, at, $"the entries '{entries.First(x => AsciiIgnoreCase.Instance.Equals(x.Name, name)).Name}' and '{name}' differ only in case; torch's zip reader ignores case and could read either. Do not trust this file.", SafeCkptErrorCode.AmbiguousArchive, name);
            }

            if ((flags & ZipRecords.Flags.AnyEncryption) != 0)
            {
                throw Fail(path, at, $"the entry '{name}' is encrypted; PyTorch checkpoints never are.", name: name);
            }

            if (method is not (Stored or Deflate))
            {
                throw Fail(path, at, $"the entry '{name}' uses compression method {method}; only stored (0) and deflate (8) are read.", name: name);
            }

            if (method == Stored && comp != size)
            {
                throw Fail(path, at, $"the stored entry '{name}' declares {comp:N0} bytes in the file but {size:N0} bytes of content.", name: name);
            }

            if (startDisk != 0)
            {
                throw Fail(path, at, $"the entry '{name}' is on another disk.", name: name);
            }

            if (lho > cdOffset - LocalHeader.Length)
            {
                throw Fail(path, at, $"the local header of '{name}' is outside the file's entry area.", name: name);
            }

            byte[] localBytes = file.ReadAt(lho, LocalHeader.Length);
            if (!HasSignature(localBytes, LocalHeader.Signature))
            {
                throw Fail(path, lho, $"there is no local header for '{name}' where the central directory says.", name: name);
            }

            LocalHeader local = LocalHeader.Read(localBytes);
            CheckLocalHeader(local, flags, method, c.Crc, comp, size, path, name, lho);
            int localNameLen = local.NameLength;
            long dataOffset = lho + LocalHeader.Length + localNameLen + local.ExtraLength;
            if (dataOffset > cdOffset || comp > cdOffset - dataOffset)
            {
                throw Fail(path, lho, $"the data of '{name}' ({comp:N0} bytes at {dataOffset:N0}) runs into the central directory or past the end of the file. The file is truncated or crafted.", name: name);
            }

            byte[] localName = file.ReadAt(lho + LocalHeader.Length, localNameLen);
            if (!localName.AsSpan().SequenceEqual(rawName))
            {
                throw Fail(path, lho, $"the local header of '{name}' names it '{Encoding.UTF8.GetString(localName)}'. Readers that trust one name or the other see different files: do not trust this file.", name: name);
            }

            entries.Add(new ZipEntry(name, method, comp, size, lho, dataOffset));
        }

        if (p != cd.Length)
        {
            throw Fail(path, cdOffset + p, $"the central directory has {cd.Length - p:N0} bytes after its {count:N0} entries.");
        }

        CheckOverlaps(entries, path);
        return new ZipDirectory(entries, cdOffset);
    }

    /// <summary>Reads an entry's content into memory: stored entries directly, deflated ones inflated up to <paramref name="cap"/> bytes.</summary>
    public static byte[] ReadAll(ByteSource file, ZipEntry entry, long cap)
    {
        if (entry.Size > cap)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.PickleLimitExceeded, file.Name, $"{file.Name}: the entry '{entry.Name}' is {entry.Size:N0} bytes, above the {cap:N0}-byte limit for records read into memory.") { Offset = entry.LocalHeaderOffset, TensorName = entry.Name };
        }

        if (entry.IsStored)
        {
            var bytes = GC.AllocateUninitializedArray<byte>((int)entry.Size);
            file.ReadExactly(entry.DataOffset, bytes);
            return bytes;
        }

        var output = new byte[(int)entry.Size];
        try
        {
            using var inflater = new DeflateStream(new RangeStream(file, entry.DataOffset, entry.CompressedSize), CompressionMode.Decompress);
            int done = 0;
            while (done < output.Length)
            {
                int n = inflater.Read(output, done, output.Length - done);
                if (n == 0)
                {
                    break;
                }

                done += n;
            }

            if (done != output.Length || inflater.ReadByte() != -1)
            {
                throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, file.Name, $"{file.Name}: the deflated entry '{entry.Name}' does not inflate to the {entry.Size:N0} bytes its header declares.") { Offset = entry.DataOffset, TensorName = entry.Name };
            }
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, file.Name, $"{file.Name}: the deflated entry '{entry.Name}' is corrupt ({ex.Message}).", ex) { Offset = entry.DataOffset, TensorName = entry.Name };
        }

        return output;
    }

    /// <summary>
    /// One read of the region zip readers search (the last 65,535 + 22 bytes): every plausible EOCD in file order (a
    /// signature with a whole record after it, single-disk numbers, a comment that fits in the file) with its comment
    /// length, and the last EOCD signature of any kind, which is the one Python's zipfile takes.
    /// </summary>
    private static (List<(long Offset, int Comment)> Candidates, long? LastSignature) SearchTail(ByteSource file)
    {
        var found = new List<(long, int)>();
        long length = file.Length;
        long start = Math.Max(0, length - EndRecord.Length - MaxComment);
        byte[] tail = file.ReadAt(start, (int)(length - start));
        long? last = null;
        for (int i = 0; i <= tail.Length - 4; i++)
        {
            if (!HasSignature(tail.AsSpan(i), EndRecord.Signature))
            {
                continue;
            }

            last = start + i;
            if (i > tail.Length - EndRecord.Length)
            {
                continue;
            }

            EndRecord r = EndRecord.Read(tail.AsSpan(i, EndRecord.Length));
            int comment = r.CommentLength;
            if (r.Disk is 0 or Max16 && r.CentralDirectoryDisk is 0 or Max16 && i + EndRecord.Length + comment <= tail.Length)
            {
                found.Add((start + i, comment));
            }
        }

        return (found, last);
    }

    /// <summary>The local header must say what the central entry says, or a streaming reader sees another file.</summary>
    private static void CheckLocalHeader(LocalHeader local, int flags, int method, uint crc, long comp, long size, string path, string name, long at)
    {
        int localFlags = local.Flags;
        int localMethod = local.Method;
        uint localCrc = local.Crc;
        long localComp = local.CompressedSize;
        long localSize = local.Size;
        string? what = null;
        if (localFlags != flags)
        {
            what = $"flags 0x{localFlags:x4} where the central directory says 0x{flags:x4}";
        }
        else if (localMethod != method)
        {
            what = $"compression method {localMethod} where the central directory says {method}";
        }
        else if ((flags & ZipRecords.Flags.DataDescriptor) != 0)
        {
            // A data descriptor follows the data: the local header's CRC and sizes are zero (torch.save) or the real ones.
            if (!(localCrc == 0 || localCrc == crc) || !(localComp == 0 || Agrees(localComp, comp)) || !(localSize == 0 || Agrees(localSize, size)))
            {
                what = "a CRC and sizes that are neither zero (data descriptor) nor the central directory's";
            }
        }
        else if (localCrc != crc || !Agrees(localComp, comp) || !Agrees(localSize, size))
        {
            what = $"CRC 0x{localCrc:x8} and sizes {localComp:N0}/{localSize:N0} where the central directory says 0x{crc:x8} and {comp:N0}/{size:N0}";
        }

        if (what is not null)
        {
            throw Fail(path, at, $"the local header of '{name}' has {what}. Readers that trust one header or the other see different files: do not trust this file.", SafeCkptErrorCode.AmbiguousArchive, name);
        }

        static bool Agrees(long local, long central) => local == central || local == Max32;
    }

    /// <summary>Reads the first <paramref name="count"/> bytes of an entry without inflating the rest.</summary>
    public static byte[] ReadHead(ByteSource file, ZipEntry entry, int count)
    {
        int n = (int)Math.Min(count, entry.Size);
        if (entry.IsStored)
        {
            return file.ReadAt(entry.DataOffset, n);
        }

        var head = new byte[n];
        try
        {
            using var inflater = new DeflateStream(new RangeStream(file, entry.DataOffset, entry.CompressedSize), CompressionMode.Decompress);
            int done = 0;
            while (done < n && inflater.Read(head, done, n - done) is int r && r > 0)
            {
                done += r;
            }

            return head[..done];
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, file.Name, $"{file.Name}: the deflated entry '{entry.Name}' is corrupt ({ex.Message}).", ex) { Offset = entry.DataOffset, TensorName = entry.Name };
        }
    }

    private static void ParseZip64Extra(ReadOnlySpan<byte> extra, ref long size, ref long comp, ref long lho, ref int disk, string path, string name, long at)
    {
        bool needSize = size == Max32, needComp = comp == Max32, needLho = lho == Max32, needDisk = disk == Max16;
        while (extra.Length >= ExtraHeaderLength)
        {
            (int id, int len) = ReadExtraHeader(extra);
            if (len > extra.Length - ExtraHeaderLength)
            {
                throw Fail(path, at, $"an extra field of '{name}' runs past its header.", name: name);
            }

            if (id == Zip64Extra.Id)
            {
                if (!Zip64Extra.TryRead(extra.Slice(ExtraHeaderLength, len), needSize, needComp, needLho, needDisk, out var values))
                {
                    throw Fail(path, at, $"the ZIP64 extra field of '{name}' is too short.", name: name);
                }

                size = needSize ? Clamp(values.Size) : size;
                comp = needComp ? Clamp(values.CompressedSize) : comp;
                lho = needLho ? Clamp(values.LocalHeaderOffset) : lho;
                disk = needDisk ? (int)values.Disk : disk;
                needSize = needComp = needLho = needDisk = false;
            }

            extra = extra[(ExtraHeaderLength + len)..];
        }

        if (needSize || needComp || needLho || needDisk)
        {
            throw Fail(path, at, $"the entry '{name}' needs a ZIP64 extra field but has none.", name: name);
        }
    }

    private static string DecodeName(ReadOnlySpan<byte> raw, string path, long at)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(raw);
        }
        catch (DecoderFallbackException)
        {
            throw Fail(path, at, "an entry name is not valid UTF-8.");
        }
    }

    private static void CheckName(string name, string path, long at)
    {
        bool bad = name.Length == 0 || name.Length > 4096 || name[0] == '/' || name.Contains('\\', StringComparison.Ordinal)
            || name.Contains('\0', StringComparison.Ordinal) || (name.Length > 1 && name[1] == ':')
            || name.Split('/').Any(seg => seg is ".." or ".");
        if (bad)
        {
            throw Fail(path, at, $"the entry name '{name}' is absolute, uses '..', '.' or backslashes, or is empty (path traversal). Do not extract this file.", SafeCkptErrorCode.UnsafeArchive, name);
        }
    }

    private static void CheckOverlaps(List<ZipEntry> entries, string path)
    {
        var sorted = entries.OrderBy(e => e.LocalHeaderOffset).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            ZipEntry prev = sorted[i - 1], cur = sorted[i];
            if (cur.LocalHeaderOffset < prev.DataOffset + prev.CompressedSize)
            {
                throw Fail(path, cur.LocalHeaderOffset, $"the entries '{prev.Name}' and '{cur.Name}' overlap in the file. Overlapping entries hide data or bomb decompressors: do not trust this file.", name: cur.Name);
            }
        }
    }

    private static long Clamp(ulong v) => v > long.MaxValue ? long.MaxValue : (long)v;

    private static SafeCkptException Fail(string path, long offset, string what, SafeCkptErrorCode code = SafeCkptErrorCode.InvalidArchive, string? name = null) =>
        code == SafeCkptErrorCode.UnsafeArchive
            ? new UnsafeCheckpointException(code, path, $"{path}: refused: {what}") { Offset = offset, RecordName = name }
            : new InvalidCheckpointException(code, path, $"{path}: invalid zip archive at byte {offset}: {what}") { Offset = offset, TensorName = name };

    /// <summary>miniz's name comparison: ASCII letters compared without case, everything else byte for byte.</summary>
    internal sealed class AsciiIgnoreCase : IEqualityComparer<string>
    {
        public static readonly AsciiIgnoreCase Instance = new();

        public bool Equals(string? x, string? y) => x is null || y is null ? ReferenceEquals(x, y) : x.Length == y.Length && x.AsSpan().Equals(y.AsSpan(), StringComparison.OrdinalIgnoreCase) && Ascii(x, y);

        public int GetHashCode(string obj)
        {
            var h = new HashCode();
            foreach (char c in obj)
            {
                h.Add(c is >= 'A' and <= 'Z' ? (char)(c + 32) : c);
            }

            return h.ToHashCode();
        }

        // OrdinalIgnoreCase also folds non-ASCII letters; miniz does not, so those must match exactly.
        private static bool Ascii(string x, string y)
        {
            for (int i = 0; i < x.Length; i++)
            {
                char a = x[i], b = y[i];
                if (a != b && (a > 0x7F || b > 0x7F || char.ToLowerInvariant(a) != char.ToLowerInvariant(b)))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>
    /// A deflated record read lazily: inflated on demand, never held whole in memory. Reads that move forward
    /// continue the same inflater (a save reads sequentially); a read before the current position starts again.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Sources are not disposable; the inflater is released when the record has been read to its end, or by its finalizer.")]
    internal sealed class InflatingTensorSource(ByteSource file, ZipEntry entry) : Tensors.TensorSource
    {
        private readonly Lock _gate = new();
        private DeflateStream? _inflater;
        private long _position;

        public override long Length => entry.Size;

        public override (object? File, long Offset) Position => (file, entry.DataOffset);

        public override void Read(long offset, Span<byte> destination)
        {
            CheckRange(offset, destination.Length);
            lock (_gate)
            {
                try
                {
                    if (_inflater is null || offset < _position)
                    {
                        _inflater?.Dispose();
                        _inflater = new DeflateStream(new RangeStream(file, entry.DataOffset, entry.CompressedSize), CompressionMode.Decompress);
                        _position = 0;
                    }

                    Span<byte> skip = stackalloc byte[4096];
                    while (_position < offset)
                    {
                        _position += Fill(skip[..(int)Math.Min(skip.Length, offset - _position)]);
                    }

                    _position += Fill(destination);
                    if (_position == entry.Size)
                    {
                        _inflater.Dispose();
                        _inflater = null;
                    }
                }
                catch (InvalidDataException ex)
                {
                    throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, file.Name, $"{file.Name}: the deflated entry '{entry.Name}' is corrupt ({ex.Message}).", ex) { Offset = entry.DataOffset, TensorName = entry.Name };
                }
            }
        }

        private int Fill(Span<byte> buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                int n = _inflater!.Read(buffer[done..]);
                if (n == 0)
                {
                    throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidArchive, file.Name, $"{file.Name}: the deflated entry '{entry.Name}' inflates to fewer than the {entry.Size:N0} bytes its header declares.") { Offset = entry.DataOffset, TensorName = entry.Name };
                }

                done += n;
            }

            return done;
        }
    }

    /// <summary>A read-only stream over a byte range, for inflating one entry.</summary>
    private sealed class RangeStream(ByteSource source, long start, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - _position);
            if (n <= 0)
            {
                return 0;
            }

            source.ReadExactly(start + _position, buffer[..n]);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
