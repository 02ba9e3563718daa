using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Safetensors;

/// <summary>
/// Writes <c>.safetensors</c> files from a plan, streaming in bounded memory: the header is laid out first from
/// names, dtypes and shapes in the reference writer's order, then each tensor's bytes are copied in chunks, reading
/// the inputs in file order. The file is written under a temporary name and renamed into place when complete.
/// </summary>
internal static class SafetensorsWriter
{
    /// <summary>
    /// Writes the planned tensors as they are (the pipeline checked their names), laid out in the reference writer's
    /// order (<see cref="SafetensorsLayout.TensorOrder"/>: dtype by dtype, widest alignment first, then by name).
    /// </summary>
    /// <param name="tensors">The tensors.</param>
    /// <param name="metadata">The metadata.</param>
    /// <param name="path">The output file.</param>
    /// <param name="options">How to write.</param>
    /// <param name="inputs">The files read (the output may be none of them).</param>
    /// <param name="cancellationToken">Cancels the write; nothing is left behind.</param>
    /// <param name="completeMetadata">
    /// Values known only after the tensors are written (the provenance hashes): called then, it returns the metadata
    /// again with each such value in place of a placeholder of the same length, and the header is written with it.
    /// </param>
    public static void Write(IReadOnlyList<Transforms.PlannedTensor> tensors, IReadOnlyDictionary<string, string> metadata, string path, SaveOptions options, IEnumerable<string> inputs, CancellationToken cancellationToken, Func<IReadOnlyDictionary<string, string>>? completeMetadata = null)
    {
        cancellationToken.ThrowIfCancellationRequested();
        List<Transforms.PlannedTensor> ordered = [.. tensors.OrderBy(t => t.Output, SafetensorsLayout.TensorOrder)];
        byte[] header = BuildHeader([.. ordered.Select(t => t.Output)], metadata);
        var items = new List<TensorStreamer.Item>(ordered.Count);
        long at = header.Length;
        foreach (Transforms.PlannedTensor t in ordered)
        {
            items.Add(new TensorStreamer.Item(t.Name, t.Data, at));
            at += t.ByteLength;
        }

        using var output = AtomicOutput.Create(path, options.Overwrite, inputs, at);
        if (completeMetadata is null)
        {
            output.Write(0, header);
        }

        new TensorStreamer(output, options, cancellationToken).CopyAll(TensorStreamer.InInputOrder(items));
        if (completeMetadata is not null)
        {
            byte[] complete = BuildHeader([.. ordered.Select(t => t.Output)], completeMetadata());
            if (complete.Length != header.Length)
            {
                throw new InvalidOperationException($"The completed header is {complete.Length} bytes where {header.Length} were laid out; a late metadata value changed length.");
            }

            output.Write(0, complete);
        }

        output.Commit(options.FlushToDisk);
    }

    /// <summary>How header strings are escaped: only what JSON requires, so non-ASCII metadata stays readable UTF-8.</summary>
    internal static JavaScriptEncoder HeaderEncoder => JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>The <c>__metadata__</c> member as every header SafeCkpt writes has it: keys in ordinal order.</summary>
    internal static void WriteMetadata(Utf8JsonWriter w, IReadOnlyDictionary<string, string> metadata)
    {
        w.WriteStartObject(SafetensorsLayout.MetadataKey);
        foreach (KeyValuePair<string, string> kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.WriteString(kv.Key, kv.Value);
        }

        w.WriteEndObject();
    }

    /// <summary>
    /// The length prefix and header JSON for tensors laid out back to back in the given order; the JSON starts
    /// with <c>{"</c> and is padded with spaces so the data section starts at a multiple of 8.
    /// </summary>
    internal static byte[] BuildHeader(IReadOnlyList<TensorInfo> ordered, IReadOnlyDictionary<string, string> metadata)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = HeaderEncoder, Indented = false, SkipValidation = false }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                WriteMetadata(w, metadata);
            }

            long offset = 0;
            foreach (TensorInfo t in ordered)
            {
                if (t.Name == SafetensorsLayout.MetadataKey)
                {
                    throw new OutputException(SafeCkptErrorCode.DuplicateKey, null, $"a tensor is named '{SafetensorsLayout.MetadataKey}', which safetensors reserves for metadata; rename it (Rename) before writing safetensors.") { TensorName = t.Name };
                }

                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.ToSafetensorsName());
                w.WriteStartArray("shape");
                foreach (long d in t.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.ByteLength);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.ByteLength;
            }

            w.WriteEndObject();
        }

        int padded = SafetensorsLayout.PaddedHeaderLength(json.WrittenCount);
        if (padded > SafetensorsLayout.MaxHeaderLength)
        {
            throw new OutputException(SafeCkptErrorCode.HeaderTooLarge, null, $"the header would be {padded:N0} bytes, above the safetensors limit of {SafetensorsLayout.MaxHeaderLength:N0}; write fewer tensors or less metadata.");
        }

        var bytes = new byte[SafetensorsLayout.PrefixLength + padded];
        SafetensorsLayout.WritePrefix(bytes, (ulong)padded);
        json.WrittenSpan.CopyTo(bytes.AsSpan(SafetensorsLayout.PrefixLength));
        bytes.AsSpan(SafetensorsLayout.PrefixLength + json.WrittenCount).Fill((byte)' ');
        return bytes;
    }
}
