using System.Buffers;
using System.Runtime.InteropServices;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A block-quantized GGUF tensor read as float32 little-endian bytes: each read loads only the blocks that cover
/// the asked range, dequantizes them and copies the asked bytes. A type SafeCkpt cannot dequantize fails on read
/// (not on open), so <c>inspect</c> still lists the file.
/// </summary>
internal sealed class DequantizingTensorSource(ByteSource file, long start, GgmlType type, long elements, string name) : TensorSource
{
    private const int BlocksPerChunk = 64;

    public override long Length => elements * sizeof(float);

    public override (object? File, long Offset) Position => (file, start);

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }

        if (!GgmlTypes.CanDequantize(type))
        {
            throw GgufReader.Fail(SafeCkptErrorCode.GgufUnsupportedTensorType, file.Name, start, $"tensor \"{name}\" is stored as {GgmlTypes.Name(type)}, which SafeCkpt cannot dequantize (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K to Q6_K). Convert it with llama.cpp's tools, or leave the tensor out.", name);
        }

        GgmlTypes.TryGetBlock((uint)type, out int blockElements, out int blockBytes);
        long blockOutBytes = (long)blockElements * sizeof(float);
        long firstBlock = offset / blockOutBytes;
        long endBlock = (offset + destination.Length + blockOutBytes - 1) / blockOutBytes;
        byte[] raw = ArrayPool<byte>.Shared.Rent(BlocksPerChunk * blockBytes);
        float[] values = ArrayPool<float>.Shared.Rent(BlocksPerChunk * blockElements);
        try
        {
            for (long b = firstBlock; b < endBlock; b += BlocksPerChunk)
            {
                int n = (int)Math.Min(BlocksPerChunk, endBlock - b);
                Span<byte> rawSpan = raw.AsSpan(0, n * blockBytes);
                file.ReadExactly(start + (b * blockBytes), rawSpan);
                Span<float> valueSpan = values.AsSpan(0, n * blockElements);
                GgmlDequantizer.Dequantize(type, rawSpan, valueSpan);
                if (!BitConverter.IsLittleEndian)
                {
                    throw new PlatformNotSupportedException("SafeCkpt runs on little-endian machines only.");
                }

                ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(valueSpan);
                long chunkStart = b * blockOutBytes;
                long from = Math.Max(offset, chunkStart);
                long to = Math.Min(offset + destination.Length, chunkStart + bytes.Length);
                bytes.Slice((int)(from - chunkStart), (int)(to - from)).CopyTo(destination[(int)(from - offset)..]);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
            ArrayPool<float>.Shared.Return(values);
        }
    }
}
