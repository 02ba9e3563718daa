using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using SafeCkpt.IO;

namespace SafeCkpt.Metadata;

/// <summary>
/// The undo journal of an in-place header edit: a hidden file beside the model (<c>.NAME.safeckpt-meta</c>) holding
/// the header bytes the edit replaces. It is written and flushed (with its folder) before the header is touched and
/// deleted after the new header is flushed, so whenever a journal exists the old header can be put back. Every
/// SafeCkpt open of the file (<see cref="FileByteSource.Open"/>) and every edit applies a leftover journal first.
/// </summary>
/// <remarks>
/// Layout, little-endian: the magic <c>SCKMETA1</c>; the file's index (inode) as u64, its length as i64; the offset
/// (i64) and length (i32) of the replaced region; the SHA-256 of the new region; the SHA-256 of up to 64 KiB after
/// the region (bytes no edit touches: they tell that the journal still belongs to this file's contents); the old
/// region; and the SHA-256 of everything before it, so a journal cut short by a crash is recognised as such (and then
/// the header was never touched). The device number is not recorded: it can change when a disk is mounted again.
/// </remarks>
internal static class HeaderJournal
{
    /// <summary>What the name of a journal ends with.</summary>
    public const string Suffix = ".safeckpt-meta";

    private const int FingerprintLength = 64 << 10;
    private const int FixedLength = 8 + 8 + 8 + 8 + 4 + 32 + 32;
    private const int HashLength = 32;

    private static ReadOnlySpan<byte> Magic => "SCKMETA1"u8;

    /// <summary>What applying a journal did.</summary>
    public enum Outcome
    {
        /// <summary>There was no journal.</summary>
        None,

        /// <summary>The journal was cut short (the crash came before the header was touched); it was deleted.</summary>
        Incomplete,

        /// <summary>The header still held the old bytes; the journal was deleted.</summary>
        NotStarted,

        /// <summary>The header already held the new bytes (the crash came after the write); the journal was deleted.</summary>
        Completed,

        /// <summary>The header was partly written; the old bytes were put back and the journal deleted.</summary>
        RolledBack,

        /// <summary>The journal does not match the file (replaced or changed since); neither was touched.</summary>
        Stale,
    }

    /// <summary>The journal of a file, beside its resolved path (a symlink's target, so every path to it finds the same journal).</summary>
    public static string PathFor(string resolvedFile) =>
        Path.Combine(Path.GetDirectoryName(resolvedFile) ?? ".", "." + Path.GetFileName(resolvedFile) + Suffix);

    /// <summary>The journal left beside <paramref name="path"/> by an interrupted edit, or null when there is none.</summary>
    public static string? Pending(string path)
    {
        string journal = PathFor(FileIdentity.ResolvePath(Path.GetFullPath(path)));
        return File.Exists(journal) ? journal : null;
    }

    /// <summary>
    /// Writes the journal for replacing <paramref name="oldRegion"/> at <paramref name="offset"/> of the file behind
    /// <paramref name="file"/> with <paramref name="newRegion"/>, and flushes it and its folder to disk.
    /// </summary>
    public static void Write(string journal, SafeFileHandle file, ulong fileIndex, long offset, ReadOnlySpan<byte> oldRegion, ReadOnlySpan<byte> newRegion)
    {
        long fileLength = RandomAccess.GetLength(file);
        var bytes = new byte[FixedLength + oldRegion.Length + HashLength];
        Span<byte> b = bytes;
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], fileIndex);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], fileLength);
        BinaryPrimitives.WriteInt64LittleEndian(b[24..], offset);
        BinaryPrimitives.WriteInt32LittleEndian(b[32..], oldRegion.Length);
        SHA256.HashData(newRegion, b[36..]);
        Fingerprint(file, offset + oldRegion.Length, fileLength, b[68..]);
        oldRegion.CopyTo(b[FixedLength..]);
        SHA256.HashData(b[..^HashLength], b[^HashLength..]);

        using (SafeFileHandle handle = File.OpenHandle(journal, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None))
        {
            RandomAccess.Write(handle, bytes, 0);
            RandomAccess.FlushToDisk(handle);
        }

        DirectorySync.Flush(Path.GetDirectoryName(journal) ?? ".");
    }

    /// <summary>Deletes a journal and makes the deletion durable.</summary>
    public static void Delete(string journal)
    {
        File.Delete(journal);
        DirectorySync.Flush(Path.GetDirectoryName(journal) ?? ".");
    }

    /// <summary>
    /// Applies <paramref name="journal"/> to the file <paramref name="resolvedFile"/>, which the caller holds open
    /// for writing and locked (<paramref name="file"/>): the old header is put back unless the new one is whole.
    /// </summary>
    public static Outcome Recover(string journal, string resolvedFile, SafeFileHandle file)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(journal);
        }
        catch (FileNotFoundException)
        {
            return Outcome.None;
        }

        if (!TryParse(bytes, out Entry entry))
        {
            // Cut short: the header is only written after the whole journal was flushed.
            Delete(journal);
            return Outcome.Incomplete;
        }

        long length = RandomAccess.GetLength(file);
        Span<byte> fingerprint = stackalloc byte[HashLength];
        if (length != entry.FileLength || entry.Offset + entry.Old.Length > length
            || (FileIdentity.Of(resolvedFile) is { } id && id.Index != entry.FileIndex))
        {
            return Outcome.Stale;
        }

        Fingerprint(file, entry.Offset + entry.Old.Length, length, fingerprint);
        if (!fingerprint.SequenceEqual(entry.Fingerprint))
        {
            return Outcome.Stale;
        }

        var current = new byte[entry.Old.Length];
        ReadExactly(file, current, entry.Offset);
        Outcome outcome;
        if (SHA256.HashData(current).AsSpan().SequenceEqual(entry.NewHash))
        {
            outcome = Outcome.Completed;
        }
        else if (current.AsSpan().SequenceEqual(entry.Old))
        {
            outcome = Outcome.NotStarted;
        }
        else
        {
            RandomAccess.Write(file, entry.Old, entry.Offset);
            outcome = Outcome.RolledBack;
        }

        RandomAccess.FlushToDisk(file);
        Delete(journal);
        return outcome;
    }

    /// <summary>
    /// Applies a leftover journal before a read-only open: takes the file for writing (which waits for no one: an
    /// edit in progress holds it, and then the open fails), restores, and releases it. A stale journal is left alone.
    /// </summary>
    /// <exception cref="InputReadException">The file cannot be written by this user, or another program holds it.</exception>
    public static void RecoverBeforeRead(string path, string journal)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new InputReadException(SafeCkptErrorCode.InterruptedEdit, path, $"{path}: a metadata edit of this file was interrupted and its header must be restored from {journal}, but this user may not write the file. Run 'safeckpt meta {path}' as a user who may (or make the file writable) to restore it.", ex);
        }
        catch (IOException ex)
        {
            throw new InputReadException(SafeCkptErrorCode.FileUnreadable, path, $"{path}: its metadata is being edited by another program ({ex.Message}). Try again when the edit is done.", ex);
        }

        using (handle)
        {
            try
            {
                _ = Recover(journal, FileIdentity.ResolvePath(Path.GetFullPath(path)), handle);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InputReadException(SafeCkptErrorCode.InterruptedEdit, path, $"{path}: a metadata edit of this file was interrupted and restoring its header from {journal} failed ({ex.Message}). Free some space or fix the permissions and run 'safeckpt meta {path}'.", ex);
            }
        }
    }

    private static bool TryParse(byte[] bytes, out Entry entry)
    {
        entry = default;
        ReadOnlySpan<byte> b = bytes;
        if (b.Length < FixedLength + HashLength || !b[..8].SequenceEqual(Magic))
        {
            return false;
        }

        int regionLength = BinaryPrimitives.ReadInt32LittleEndian(b[32..]);
        if (regionLength < 0 || b.Length != FixedLength + regionLength + HashLength
            || !SHA256.HashData(b[..^HashLength]).AsSpan().SequenceEqual(b[^HashLength..]))
        {
            return false;
        }

        entry = new Entry(
            BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(b[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(b[24..]),
            bytes.AsMemory(36, HashLength),
            bytes.AsMemory(68, HashLength),
            bytes.AsMemory(FixedLength, regionLength));
        return entry.Offset >= 0;
    }

    /// <summary>The SHA-256 of up to 64 KiB from <paramref name="from"/>: bytes an edit never touches.</summary>
    private static void Fingerprint(SafeFileHandle file, long from, long length, Span<byte> destination)
    {
        var bytes = new byte[(int)Math.Clamp(length - from, 0, FingerprintLength)];
        ReadExactly(file, bytes, from);
        SHA256.HashData(bytes, destination);
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(file, destination, offset);
            if (n == 0)
            {
                throw new IOException($"the file ends at byte {offset}, before the bytes the journal covers");
            }

            destination = destination[n..];
            offset += n;
        }
    }

    private readonly record struct Entry(ulong FileIndex, long FileLength, long Offset, ReadOnlyMemory<byte> NewHashMemory, ReadOnlyMemory<byte> FingerprintMemory, ReadOnlyMemory<byte> OldMemory)
    {
        public ReadOnlySpan<byte> NewHash => NewHashMemory.Span;

        public ReadOnlySpan<byte> Fingerprint => FingerprintMemory.Span;

        public ReadOnlySpan<byte> Old => OldMemory.Span;
    }
}
