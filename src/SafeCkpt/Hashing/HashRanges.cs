using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Internals;
using SafeCkpt.IO;

namespace SafeCkpt.Hashing;

/// <summary>The parts of a file the partial hashes cover: AutoV1's 64 KiB window and where AutoV3 starts.</summary>
internal static class HashRanges
{
    /// <summary>Where AutoV1 (A1111's old <c>model_hash</c>) starts reading: 1 MiB.</summary>
    public const long AutoV1Offset = 0x100000;

    /// <summary>How many bytes AutoV1 reads (fewer when the file ends sooner): 64 KiB.</summary>
    public const int AutoV1Length = 0x10000;

    /// <summary>The length of AutoV1's window in a file of <paramref name="fileLength"/> bytes.</summary>
    public static int AutoV1WindowLength(long fileLength) => (int)Math.Clamp(fileLength - AutoV1Offset, 0, AutoV1Length);

    /// <summary>
    /// Where AutoV3's range (to the end of the file) starts in a safetensors file: after the 8-byte length and the
    /// header it declares, whatever its size (kohya's <c>addnet_hash_safetensors</c>, which A1111 copies). -1 for any
    /// other file, and for a safetensors file whose declared header runs past its end (a truncated download).
    /// </summary>
    public static long AutoV3Start(ByteSource file)
    {
        if (FormatSniffer.Sniff(file).Format != ModelFormat.Safetensors)
        {
            return -1;
        }

        Span<byte> prefix = stackalloc byte[SafetensorsLayout.PrefixLength];
        file.ReadExactly(0, prefix);
        return SafetensorsLayout.DataStart(SafetensorsLayout.ReadPrefix(prefix), file.Length);
    }
}
