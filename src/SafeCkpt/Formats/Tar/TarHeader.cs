using System.Text;
using SafeCkpt.IO;

namespace SafeCkpt.Formats.Tar;

/// <summary>
/// torch's oldest checkpoint format is a tar archive, and torch 1.x <c>torch.load</c> tries it first for every file
/// that is not a zip: <c>tarfile.open(fileobj=f, mode='r:')</c> accepts the file when its first 512-byte block has a
/// valid checksum, and torch then unpickles the archive's <c>storages</c>, <c>tensors</c> and <c>pickle</c> members
/// with the full, unrestricted pickle module. So a file whose first block passes Python's check is refused in every
/// format path, whatever else it also parses as (a safetensors file, a pickle, a legacy checkpoint). The check is
/// Python's <c>TarInfo.frombuf</c>: not all zeros, and the checksum field (octal text, or base-256) equal to the
/// unsigned or signed byte sum of the block with that field read as spaces. The field is parsed at least as
/// permissively as Python's <c>int(s, 8)</c> (sign, <c>0o</c> prefix, underscores, surrounding whitespace), so
/// nothing Python accepts is missed.
/// </summary>
internal static class TarHeader
{
    /// <summary>The tar block size: Python reads exactly this many bytes for the first header.</summary>
    public const int BlockSize = 512;

    private const int ChecksumOffset = 148;
    private const int ChecksumLength = 8;

    /// <summary>Whether <paramref name="head"/> (the file's first bytes) starts with a block Python's tarfile accepts as a header.</summary>
    public static bool IsValidHeader(ReadOnlySpan<byte> head)
    {
        if (head.Length < BlockSize)
        {
            return false;
        }

        ReadOnlySpan<byte> block = head[..BlockSize];
        if (!block.ContainsAnyExcept((byte)0))
        {
            return false;
        }

        long unsignedSum = 256, signedSum = 256;
        for (int i = 0; i < BlockSize; i++)
        {
            if (i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength)
            {
                continue;
            }

            unsignedSum += block[i];
            signedSum += (sbyte)block[i];
        }

        return ParseNumberField(block.Slice(ChecksumOffset, ChecksumLength)) is long stored && (stored == unsignedSum || stored == signedSum);
    }

    /// <summary>Throws the refusal when <paramref name="file"/> starts with a tar header.</summary>
    public static void RefuseIfTar(ByteSource file)
    {
        if (file.Length >= BlockSize && IsValidHeader(file.ReadAt(0, BlockSize)))
        {
            throw Refusal(file.Name);
        }
    }

    /// <summary>The refusal of a file that torch would read as a tar checkpoint.</summary>
    public static UnsafeCheckpointException Refusal(string path) =>
        new(SafeCkptErrorCode.TarCheckpoint, path, $"{path}: refused: the first 512 bytes form a valid tar header, so torch.load reads the file as its oldest (tar) checkpoint format and unpickles the archive's 'storages', 'tensors' and 'pickle' members with the full, unrestricted pickle module. SafeCkpt does not read that format. Nothing was executed; do not load this file with torch.load.")
        {
            Offset = 0,
            RecordName = "tar header",
        };

    /// <summary>Python's <c>tarfile.nti</c>: base-256 when the first byte is 0x80 or 0xFF, else NUL-terminated octal text.</summary>
    internal static long? ParseNumberField(ReadOnlySpan<byte> field)
    {
        if (field[0] is 0x80 or 0xFF)
        {
            long n = 0;
            for (int i = 1; i < field.Length; i++)
            {
                n = (n << 8) + field[i];
            }

            return field[0] == 0xFF ? n - (1L << (8 * (field.Length - 1))) : n;
        }

        int nul = field.IndexOf((byte)0);
        ReadOnlySpan<byte> text = nul >= 0 ? field[..nul] : field;
        if (text.ContainsAnyInRange((byte)0x80, (byte)0xFF))
        {
            return null;
        }

        // str.strip() and int() both skip ASCII whitespace, including \x1c-\x1f.
        string s = Encoding.ASCII.GetString(text).Trim(' ', '\t', '\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\x1f');
        if (s.Length == 0)
        {
            return 0;
        }

        bool negative = false;
        if (s[0] is '+' or '-')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.StartsWith("0o", StringComparison.OrdinalIgnoreCase))
        {
            s = s[2..];
        }

        s = s.Replace("_", string.Empty, StringComparison.Ordinal);
        if (s.Length == 0 || s.Any(c => c is < '0' or > '7'))
        {
            return null;
        }

        long value = 0;
        foreach (char c in s)
        {
            value = (value * 8) + (c - '0');
        }

        return negative ? -value : value;
    }
}
