using System.Runtime.InteropServices;
using SafeCkpt.IO;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A block-quantized GGUF tensor read as float32 little-endian bytes: each read loads only the blocks that cover
/// the asked range, dequantizes them and copies the asked bytes. A type SafeCkpt cannot dequantize fails on read
/// (not on open), so <c>inspect</c> still lists the file.
/// </summary>
internal sealed class DequantizingTensorSource : BlockTensorSource
{
    private const int BlocksPerChunk = 64;

    private readonly ByteSource _file;
    private readonly long _start;
    private readonly GgmlType _type;
    private readonly long _elements;
    private readonly string _name;
    private readonly int _blockElements;
    private readonly int _blockBytes;

    /// <summary>The tensor stored at <paramref name="start"/> of <paramref name="file"/>.</summary>
    public DequantizingTensorSource(ByteSource file, long start, GgmlType type, long elements, string name)
        : base(BlockOutput(type), BlockInput(type), BlocksPerChunk)
    {
        (_file, _start, _type, _elements, _name) = (file, start, type, elements, name);
        GgmlTypes.TryGetBlock((uint)type, out _blockElements, out _blockBytes);
    }

    public override long Length => _elements * sizeof(float);

    public override (object? File, long Offset) Position => (_file, _start);

    protected override void BeforeRead()
    {
        if (!GgmlTypes.CanDequantize(_type))
        {
            throw GgufReader.Fail(SafeCkptErrorCode.GgufUnsupportedTensorType, _file.Name, _start, $"tensor \"{_name}\" is stored as {GgmlTypes.Name(_type)}, which SafeCkpt cannot dequantize (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K to Q6_K). Convert it with llama.cpp's tools, or leave the tensor out.", _name);
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("SafeCkpt runs on little-endian machines only.");
        }
    }

    protected override void Make(long firstBlock, int count, byte[] scratch, byte[] output)
    {
        Span<byte> raw = scratch.AsSpan(0, count * _blockBytes);
        _file.ReadExactly(_start + (firstBlock * _blockBytes), raw);
        GgmlDequantizer.Dequantize(_type, raw, MemoryMarshal.Cast<byte, float>(output.AsSpan(0, count * _blockElements * sizeof(float))));
    }

    /// <summary>The float32 bytes one block of <paramref name="type"/> dequantizes to (a type without blocks: 4, and reading fails).</summary>
    private static int BlockOutput(GgmlType type) => GgmlTypes.TryGetBlock((uint)type, out int elements, out _) ? elements * sizeof(float) : sizeof(float);

    /// <summary>The stored bytes of one block of <paramref name="type"/>.</summary>
    private static int BlockInput(GgmlType type) => GgmlTypes.TryGetBlock((uint)type, out _, out int bytes) ? bytes : 0;
}
