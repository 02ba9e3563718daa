using SafeCkpt.Internals;
using SafeCkpt.IO;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Reads PyTorch checkpoints (<c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>, <c>.bin</c>) without executing them: the zip format
/// of torch.save since 1.6, the legacy format before it, and bare pickles. Pickles run on SafeCkpt's own restricted
/// machine, which builds inert values only and refuses every global outside an exact allowlist with an
/// <see cref="UnsafeCheckpointException"/>. Tensor bytes are read lazily, straight from the file.
/// </summary>
internal static class CkptReader
{
    /// <summary>Opens a PyTorch checkpoint of any of the three formats.</summary>
    /// <param name="path">The file to open.</param>
    /// <returns>The checkpoint; dispose it to close the file.</returns>
    /// <exception cref="UnsafeCheckpointException">The file would run code if loaded by PyTorch (the message names what and where).</exception>
    /// <exception cref="InvalidCheckpointException">The file is malformed, or not a PyTorch checkpoint.</exception>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static TorchCheckpoint Open(string path) => FileByteSource.OpenWith(path, file => Open(file));

    /// <summary>Opens checkpoint bytes held in memory (tests, downloads kept in memory).</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="name">A name for messages.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="UnsafeCheckpointException">The bytes would run code if loaded by PyTorch.</exception>
    /// <exception cref="InvalidCheckpointException">The bytes are malformed.</exception>
    public static TorchCheckpoint Open(ReadOnlyMemory<byte> bytes, string name = "<memory>") => Open(new MemoryByteSource(bytes, name));

    /// <summary>Sniffs and opens; the checkpoint takes ownership of <paramref name="file"/>.</summary>
    internal static TorchCheckpoint Open(ByteSource file)
    {
        (ModelFormat format, string description) = FormatSniffer.Sniff(file);
        if (!FormatSniffer.IsTorch(format))
        {
            throw new UnsupportedFormatException(file.Length == 0 ? SafeCkptErrorCode.EmptyFile : SafeCkptErrorCode.UnsupportedFormat, file.Name, $"{file.Name}: is not a PyTorch checkpoint: {description}");
        }

        Tar.TarHeader.RefuseIfTar(file);
        return TorchReaders.Open(file, format);
    }
}
