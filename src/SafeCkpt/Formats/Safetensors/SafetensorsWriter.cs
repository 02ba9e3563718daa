using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Safetensors;

/// <summary>
/// Writes <c>.safetensors</c> files, streaming one tensor at a time in bounded memory: the header is laid out
/// first from names, dtypes and shapes, then each tensor's bytes are copied in chunks. The file is written under
/// a temporary name and renamed into place when complete.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes every tensor and the metadata of <paramref name="store"/> to <paramref name="path"/>.</summary>
    /// <param name="store">The tensors to write.</param>
    /// <param name="path">The output file.</param>
    /// <param name="options">Overwrite, flush and progress settings; <see cref="SaveOptions.Default"/> when null.</param>
    /// <param name="cancellationToken">Cancels the write; no partial file is left.</param>
    /// <exception cref="OutputException">The output exists, is the input, or cannot be written.</exception>
    public static void Write(TensorStore store, string path, SaveOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        Write(store.Entries().ToList(), store.Metadata, path, options ?? SaveOptions.Default, store.FilePath is { } f ? [f] : [], cancellationToken);
    }

    /// <summary>Writes the given tensors; the shared path for every safetensors output.</summary>
    internal static void Write(IReadOnlyList<(TensorInfo Info, TensorSource Source)> tensors, IReadOnlyDictionary<string, string> metadata, string path, SaveOptions options, IEnumerable<string> inputs, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var ordered = Layout(tensors);
        byte[] header = BuildHeader(ordered.Select(t => t.Info).ToList(), metadata);
        long total = ordered.Sum(t => t.Info.ByteLength);
        long fileLength = header.Length + total;

        using var output = AtomicOutput.Create(path, options.Overwrite, inputs, fileLength);
        output.Append(header);
        new TensorStreamer(output, options, cancellationToken).CopyAll(ordered.Select(t => new TensorStreamer.Item(t.Info.Name, t.Source)).ToList());
        output.Commit(options.FlushToDisk);
    }

    /// <summary>
    /// The order of tensors in the data section, as the reference writer lays it out (<see cref="SafetensorsLayout.TensorOrder"/>):
    /// dtype by dtype, widest alignment first (so every tensor starts aligned to its element size), then by name.
    /// </summary>
    internal static List<(TensorInfo Info, TensorSource Source)> Layout(IReadOnlyList<(TensorInfo Info, TensorSource Source)> tensors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((TensorInfo info, _) in tensors)
        {
            if (!seen.Add(info.Name))
            {
                throw new ArgumentException($"Tensor name '{info.Name}' appears twice.", nameof(tensors));
            }

            if (info.Name == SafetensorsLayout.MetadataKey)
            {
                throw new ArgumentException($"'{SafetensorsLayout.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
            }
        }

        return tensors.OrderBy(t => t.Info, SafetensorsLayout.TensorOrder).ToList();
    }

    /// <summary>
    /// The length prefix and header JSON for tensors laid out back to back in the given order; the JSON starts
    /// with <c>{"</c> and is padded with spaces so the data section starts at a multiple of 8.
    /// </summary>
    internal static byte[] BuildHeader(IReadOnlyList<TensorInfo> ordered, IReadOnlyDictionary<string, string> metadata)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false, SkipValidation = false }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject(SafetensorsLayout.MetadataKey);
                foreach (KeyValuePair<string, string> kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.WriteString(kv.Key, kv.Value);
                }

                w.WriteEndObject();
            }

            long offset = 0;
            foreach (TensorInfo t in ordered)
            {
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
