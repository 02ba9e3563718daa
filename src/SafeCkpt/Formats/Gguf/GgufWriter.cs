using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using SafeCkpt.IO;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// Writes a GGUF v3 file from a <see cref="GgufWritePlan"/>, streaming: the header (metadata and tensor infos) is laid
/// out first from names, types and shapes, then each tensor is quantized chunk by chunk into place through the same
/// streaming loop as the other writers (<see cref="TensorStreamer"/>), under a temporary name renamed into place when
/// complete. The layout is gguf-py's <c>GGUFWriter</c>'s: keys <c>general.architecture</c>,
/// <c>general.quantization_version</c>, <c>general.file_type</c>, then one <c>comfy.gguf.orig_shape.&lt;name&gt;</c>
/// (ARRAY of INT32) per reshaped tensor in tensor order, then the provenance keys (<c>safeckpt.*</c>, STRING) in
/// ordinal order; dims innermost first; tensors in plan order, each at a multiple of 32 from the data section's start
/// and padded with zeros to the next. The provenance hashes are known only after the tensors: the header is written
/// with placeholders of their fixed length and written again, the same size, at the end.
/// </summary>
internal static class GgufWriter
{
    private const uint Version = 3;

    private const uint UInt32Type = (uint)GgufReader.ValueType.UInt32;
    private const uint Int32Type = (uint)GgufReader.ValueType.Int32;
    private const uint StringType = (uint)GgufReader.ValueType.String;
    private const uint ArrayType = (uint)GgufReader.ValueType.Array;

    /// <summary>Writes the plan to <paramref name="path"/>.</summary>
    /// <param name="plan">The tensors and the architecture.</param>
    /// <param name="path">The output file.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="inputs">The input files, which the output must not be.</param>
    /// <param name="metadata">String keys written after the layout's own (provenance), or null.</param>
    /// <param name="lateMetadata">Called after the tensors are written: the final values of <paramref name="metadata"/>, each as long as its placeholder.</param>
    /// <param name="cancellationToken">Cancels the write; nothing is left.</param>
    public static void Write(GgufWritePlan plan, string path, SaveOptions options, IEnumerable<string> inputs, IReadOnlyDictionary<string, string>? metadata, Func<IReadOnlyDictionary<string, string>>? lateMetadata, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        byte[] header = BuildHeader(plan, metadata, out long[] offsets);
        var items = new List<TensorStreamer.Item>(plan.Tensors.Count);
        long end = header.Length;
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            GgufTensor t = plan.Tensors[i];
            long at = header.Length + offsets[i];
            int pad = (int)(Pad(t.Data.Length) - t.Data.Length);
            items.Add(new TensorStreamer.Item(t.Name, t.Data, at, Suffix: pad == 0 ? null : () => new byte[pad]));
            end = at + t.Data.Length + pad;
        }

        using var output = AtomicOutput.Create(path, options.Overwrite, inputs, end);
        output.Write(0, header);
        new TensorStreamer(output, options, cancellationToken).CopyAll(TensorStreamer.InInputOrder(items));
        if (lateMetadata is not null)
        {
            byte[] final = BuildHeader(plan, lateMetadata(), out _);
            if (final.Length != header.Length)
            {
                throw new InvalidOperationException($"The GGUF header changed size from {header.Length} to {final.Length} bytes when the provenance hashes were filled in.");
            }

            output.Write(0, final);
        }

        output.Commit(options.FlushToDisk);
    }

    /// <summary>The header, padded to the alignment, and each tensor's offset in the data section.</summary>
    internal static byte[] BuildHeader(GgufWritePlan plan, IReadOnlyDictionary<string, string>? metadata, out long[] offsets)
    {
        List<KeyValuePair<string, string>> strings = metadata is null ? [] : [.. metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)];
        var w = new ArrayBufferWriter<byte>();
        w.Write(GgufReader.Magic);
        U32(w, Version);
        U64(w, (ulong)plan.Tensors.Count);
        List<GgufTensor> reshaped = [.. plan.Tensors.Where(t => t.OriginalShape is not null)];
        U64(w, (ulong)(3 + reshaped.Count + strings.Count));
        Str(w, GgufReader.ArchitectureKey);
        U32(w, StringType);
        Str(w, plan.Architecture);
        Str(w, "general.quantization_version");
        U32(w, UInt32Type);
        U32(w, GgufWritePlan.QuantizationVersion);
        Str(w, "general.file_type");
        U32(w, UInt32Type);
        U32(w, plan.FileType);
        foreach (GgufTensor t in reshaped)
        {
            Str(w, "comfy.gguf.orig_shape." + t.Name);
            U32(w, ArrayType);
            U32(w, Int32Type);
            U64(w, (ulong)t.OriginalShape!.Count);
            foreach (long d in t.OriginalShape)
            {
                U32(w, (uint)checked((int)d));
            }
        }

        foreach ((string key, string value) in strings)
        {
            Str(w, key);
            U32(w, StringType);
            Str(w, value);
        }

        offsets = new long[plan.Tensors.Count];
        long offset = 0;
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            GgufTensor t = plan.Tensors[i];
            Str(w, t.Name);
            U32(w, (uint)t.Shape.Count);
            for (int j = t.Shape.Count - 1; j >= 0; j--)
            {
                U64(w, (ulong)t.Shape[j]);
            }

            U32(w, (uint)t.Type);
            U64(w, (ulong)offset);
            offsets[i] = offset;
            offset += Pad(t.Data.Length);
        }

        var bytes = new byte[Pad(w.WrittenCount)];
        w.WrittenSpan.CopyTo(bytes);
        return bytes;
    }

    private static long Pad(long n) => (n + GgufWritePlan.Alignment - 1) / GgufWritePlan.Alignment * GgufWritePlan.Alignment;

    private static void U32(ArrayBufferWriter<byte> w, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(w.GetSpan(4), v);
        w.Advance(4);
    }

    private static void U64(ArrayBufferWriter<byte> w, ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(w.GetSpan(8), v);
        w.Advance(8);
    }

    private static void Str(ArrayBufferWriter<byte> w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        U64(w, (ulong)b.Length);
        w.Write(b);
    }
}
