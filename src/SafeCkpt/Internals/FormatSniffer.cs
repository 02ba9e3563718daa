using System.Text;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Formats.Torch;
using SafeCkpt.IO;
using SafeCkpt.Safety;

namespace SafeCkpt.Internals;

/// <summary>
/// Tells what a file is from its first bytes: one of the model formats, or, for everything else, a description a
/// person recognises (an HTML page, a Git LFS pointer, an archive) with what to do about it.
/// </summary>
internal static class FormatSniffer
{
    /// <summary>How many leading bytes the sniffer looks at.</summary>
    public const int PrefixLength = 512;

    /// <summary>Decides the format; for an unsupported one returns <see cref="ModelFormat.Unknown"/> and a description.</summary>
    public static (ModelFormat Format, string Description) Sniff(ReadOnlySpan<byte> head, long fileLength)
    {
        if (fileLength == 0)
        {
            return (ModelFormat.Unknown, "the file is empty (0 bytes); the download or copy did not finish. Download it again.");
        }

        if (ZipRecords.HasSignature(head, ZipRecords.LocalHeader.Signature))
        {
            return (ModelFormat.TorchZip, "PyTorch zip checkpoint");
        }

        // Before the safetensors check: "GGUF" read as a header length is huge, and byte 8 may well be '{'.
        if (head.StartsWith(Formats.Gguf.GgufReader.Magic))
        {
            return (ModelFormat.Gguf, "GGUF");
        }

        // Before the pickle checks: a safetensors header length such as 0x280 also starts with the bytes 80 02.
        if (LooksLikeSafetensors(head) && (SafetensorsLayout.DataStart(SafetensorsLayout.ReadPrefix(head), fileLength) >= 0 || !StartsLikePickle(head)))
        {
            return (ModelFormat.Safetensors, "safetensors");
        }

        if (head.StartsWith(TorchStorageTypes.LegacyMagicPickle))
        {
            return (ModelFormat.TorchLegacy, "legacy PyTorch checkpoint");
        }

        if (StartsLikePickle(head))
        {
            return (ModelFormat.Pickle, $"pickle stream (protocol {head[1]})");
        }

        return (ModelFormat.Unknown, DescribeOther(head));
    }

    /// <summary>Whether <paramref name="format"/> is one of torch's: what <c>TorchReaders.Open</c> reads (zip, legacy, bare pickle).</summary>
    public static bool IsTorch(ModelFormat format) => format is ModelFormat.TorchZip or ModelFormat.TorchLegacy or ModelFormat.Pickle;

    /// <summary>Reads the head of <paramref name="file"/> and sniffs it.</summary>
    public static (ModelFormat Format, string Description) Sniff(ByteSource file)
    {
        byte[] head = file.ReadAt(0, PrefixLength);
        return Sniff(head, file.Length);
    }

    private static bool StartsLikePickle(ReadOnlySpan<byte> head) => head.Length >= 2 && head[0] == PickleOpcodes.Proto && head[1] is >= PickleOpcodes.MinSupportedProtocol and <= PickleOpcodes.HighestProtocol;

    private static bool LooksLikeSafetensors(ReadOnlySpan<byte> head)
    {
        if (head.Length <= SafetensorsLayout.PrefixLength)
        {
            return false;
        }

        // The 8-byte little-endian header length, then JSON (optionally after whitespace) opening with '{'.
        if (SafetensorsLayout.ReadPrefix(head) == 0)
        {
            return false;
        }

        for (int i = SafetensorsLayout.PrefixLength; i < head.Length; i++)
        {
            byte b = head[i];
            if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
            {
                continue;
            }

            return b == (byte)'{';
        }

        return false;
    }

    private static string DescribeOther(ReadOnlySpan<byte> head)
    {
        ReadOnlySpan<byte> text = head;
        if (text.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            text = text[3..];
        }

        string start = Encoding.Latin1.GetString(text[..Math.Min(text.Length, 64)]).TrimStart().ToLowerInvariant();
        if (start.StartsWith("<!doctype html", StringComparison.Ordinal) || start.StartsWith("<html", StringComparison.Ordinal) || start.StartsWith("<head", StringComparison.Ordinal))
        {
            return "an HTML page, not a model: the download probably saved an error or login page. Download the model again (some sites need you to log in or accept a licence first).";
        }

        if (start.StartsWith("version https://git-lfs", StringComparison.Ordinal))
        {
            return "a Git LFS pointer file, not the model itself. Run 'git lfs pull' in the repository, or download the file directly.";
        }

        if (start.StartsWith('{') || start.StartsWith('['))
        {
            return "a JSON text file, not a model (a config or index file?). Open the model file it refers to.";
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]))
        {
            return "a 7-Zip archive. Extract the model from it first.";
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            return "a gzip-compressed file. Decompress it first.";
        }

        if (head.StartsWith("Rar!"u8))
        {
            return "a RAR archive. Extract the model from it first.";
        }

        if (head.Length > 262 && head.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            return "a tar archive (perhaps the oldest PyTorch format, which SafeCkpt does not read). Extract it, or re-save the model with a current PyTorch.";
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']))
        {
            return "a PNG image, not a model (a preview image saved under a model's name?). Download the model file itself.";
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            return "a JPEG image, not a model (a preview image saved under a model's name?). Download the model file itself.";
        }

        if (head.StartsWith("GIF8"u8) || head.StartsWith("RIFF"u8))
        {
            return "an image or media file, not a model. Download the model file itself.";
        }

        if (head.StartsWith("%PDF"u8))
        {
            return "a PDF document, not a model.";
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y']))
        {
            return "a numpy .npy array file, not a PyTorch or safetensors model.";
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x89, 0x48, 0x44, 0x46]))
        {
            return "an HDF5 file (Keras .h5), not a PyTorch or safetensors model.";
        }

        if (head.Length >= 2 && head[0] == PickleOpcodes.Proto)
        {
            return $"a pickle of protocol {head[1]}, which SafeCkpt does not read (it reads protocols {PickleOpcodes.MinSupportedProtocol} to {PickleOpcodes.HighestProtocol}).";
        }

        string hex = Convert.ToHexString(head[..Math.Min(head.Length, 16)]).ToLowerInvariant();
        return $"not a recognised model format (first bytes: {hex}). SafeCkpt reads .safetensors, GGUF and PyTorch .ckpt/.pt/.pth/.bin files; the file may be damaged or of another kind.";
    }
}
