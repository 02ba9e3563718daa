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

    /// <summary>civitai's scanner skips a declared header only below this length (16 MiB); above, it hashes from byte 8.</summary>
    public const ulong CivitaiHeaderLimit = 16 << 20;

    /// <summary>The length of AutoV1's window in a file of <paramref name="fileLength"/> bytes.</summary>
    public static int AutoV1WindowLength(long fileLength) => (int)Math.Clamp(fileLength - AutoV1Offset, 0, AutoV1Length);

    /// <summary>
    /// Where AutoV3's range (to the end of the file) starts, or -1 when the file has none. A safetensors file: after
    /// the 8-byte length and the header it declares (kohya's <c>addnet_hash_safetensors</c>, which A1111 copies).
    /// Any other file, as civitai's scanner hashes it: the first 8 bytes read as a little-endian length N; below
    /// 16 MiB the range starts at 8 + N, otherwise at 8 (a zip or pickle's first bytes make a huge N, so in practice
    /// everything after byte 8). None when the file is shorter than 8 bytes or its declared header runs past its end.
    /// </summary>
    public static long AutoV3Start(ByteSource file)
    {
        long length = file.Length;
        if (length < SafetensorsLayout.PrefixLength)
        {
            return -1;
        }

        Span<byte> prefix = stackalloc byte[SafetensorsLayout.PrefixLength];
        file.ReadExactly(0, prefix);
        ulong declared = SafetensorsLayout.ReadPrefix(prefix);
        long afterHeader = SafetensorsLayout.DataStart(declared, length);
        if (declared < CivitaiHeaderLimit)
        {
            return afterHeader;
        }

        // A long declared header: skipped in a safetensors file (kohya), not in anything else (civitai). A truncated
        // safetensors file has no AutoV3 either way.
        bool safetensors = FormatSniffer.Sniff(file).Format == ModelFormat.Safetensors;
        return safetensors ? afterHeader : SafetensorsLayout.PrefixLength;
    }
}
