using System.Buffers;
using System.Text.Json;
using SafeCkpt.Formats.Safetensors;

namespace SafeCkpt.Metadata;

/// <summary>
/// Builds a header with new metadata from an existing, validated header: the <c>__metadata__</c> object is written
/// anew (keys in ordinal order, as <see cref="SafetensorsWriter"/> writes them; left out when empty) and every
/// tensor entry is copied byte for byte, in its order, so nothing but the metadata changes.
/// </summary>
internal static class HeaderSplice
{
    /// <summary>The new header JSON, unpadded.</summary>
    /// <param name="header">The old header JSON (it may end with padding); already validated by <see cref="SafetensorsReader"/>.</param>
    /// <param name="metadata">The metadata the new header holds.</param>
    public static byte[] Build(ReadOnlySpan<byte> header, IReadOnlyDictionary<string, string> metadata)
    {
        var output = new ArrayBufferWriter<byte>(header.Length + 64);
        output.Write("{"u8);
        bool first = true;
        if (metadata.Count > 0)
        {
            // SkipValidation: the member is written without its enclosing object, which is copied around it.
            using (var w = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = SafetensorsWriter.HeaderEncoder, SkipValidation = true }))
            {
                SafetensorsWriter.WriteMetadata(w, metadata);
            }

            first = false;
        }

        foreach (Range member in TensorMembers(header))
        {
            if (!first)
            {
                output.Write(","u8);
            }

            output.Write(header[member]);
            first = false;
        }

        output.Write("}"u8);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Where each top-level member other than <c>__metadata__</c> lies: from its name's opening quote to the end of its value.</summary>
    private static List<Range> TensorMembers(ReadOnlySpan<byte> header)
    {
        var members = new List<Range>();
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        reader.Read(); // {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            int start = (int)reader.TokenStartIndex;
            bool isMetadata = reader.ValueTextEquals(SafetensorsLayout.MetadataKey);
            reader.Read();
            reader.Skip();
            if (!isMetadata)
            {
                members.Add(start..(int)reader.BytesConsumed);
            }
        }

        return members;
    }
}
