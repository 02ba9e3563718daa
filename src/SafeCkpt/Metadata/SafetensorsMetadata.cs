using SafeCkpt.Hashing;

namespace SafeCkpt.Metadata;

/// <summary>
/// Edits the <c>__metadata__</c> of a safetensors file (read it with <see cref="ModelFile.Metadata"/>). The tensor
/// bytes are never rewritten: a header that fits in the old header's bytes replaces them in place, atomically (an
/// undo journal beside the file, flushed before the header is touched; see <see cref="MetadataWriteMode"/>); a
/// larger one makes SafeCkpt write the file anew beside the old one, the data section copied unchanged, and rename it
/// over. Either way the SHA-256 of the data section (AutoV3, <c>modelspec.hash_sha256</c>) stays the same.
/// </summary>
/// <example>
/// <code>
/// SafetensorsMetadata.Edit("lora.safetensors", m =>
/// {
///     m["modelspec.title"] = "My LoRA";
///     m.Remove("ss_tag_frequency");
/// });
/// </code>
/// </example>
public static class SafetensorsMetadata
{
    /// <summary>Changes a safetensors file's metadata: <paramref name="edit"/> gets the current metadata to change.</summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="edit">Changes the metadata (set, remove, clear); keys must be non-empty, values strings.</param>
    /// <param name="options">Where to write (in place by default, or an edited copy).</param>
    /// <param name="cancellationToken">Cancels the edit before the file is touched, or while a rewritten file is copied; never in the middle of an in-place header write.</param>
    /// <returns>What was written, and the metadata before and after.</returns>
    /// <exception cref="UnsupportedFormatException">The file is not safetensors (only safetensors files have a metadata header).</exception>
    /// <exception cref="InvalidCheckpointException">The file is not a valid safetensors file.</exception>
    /// <exception cref="ConversionException">The edit left an empty key, a null value or invalid Unicode.</exception>
    /// <exception cref="OutputException">The file (or its folder, for the journal) cannot be written, or another program holds it; or the output copy exists.</exception>
    /// <exception cref="InputReadException">The file cannot be read.</exception>
    public static MetadataEditResult Edit(string path, Action<IDictionary<string, string>> edit, MetadataEditOptions? options = null, CancellationToken cancellationToken = default) =>
        MetadataEditor.Edit(path, edit, options ?? MetadataEditOptions.Default, cancellationToken);

    /// <summary>
    /// The ModelSpec (<c>modelspec.*</c>) values SafeCkpt can tell for a safetensors file: <c>sai_model_spec</c>
    /// (1.0.1), <c>architecture</c> (detected, in ModelSpec's ids, with <c>/lora</c>, <c>/textual-inversion</c>,
    /// <c>/vae</c>, <c>/controlnet</c> suffixes), <c>implementation</c>, <c>resolution</c>, <c>prediction_type</c>,
    /// <c>hash_sha256</c> ("0x" and the SHA-256 of everything after the header, lowercase) and <c>title</c> (the
    /// file name without its extension). Reads the whole file (for the hash). Keys it cannot tell are left out.
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="cancellationToken">Cancels the hashing.</param>
    /// <returns>The proposed values; merge them with <see cref="FillModelSpec"/>.</returns>
    /// <exception cref="UnsupportedFormatException">The file is not safetensors.</exception>
    /// <exception cref="InvalidCheckpointException">The file is not a valid safetensors file.</exception>
    /// <exception cref="InputReadException">The file cannot be read.</exception>
    public static IReadOnlyDictionary<string, string> ProposeModelSpec(string path, CancellationToken cancellationToken = default)
    {
        Models.ArchitectureReport report;
        using (ModelFile model = ModelFile.Open(path))
        {
            if (model.Format != ModelFormat.Safetensors)
            {
                throw new UnsupportedFormatException(SafeCkptErrorCode.UnsupportedFormat, path, $"{path}: is not a safetensors file; ModelSpec metadata lives in a safetensors header. Convert it first (safeckpt convert {path} -o NAME.safetensors).");
            }

            report = model.DetectArchitecture();
        }

        string data = ModelHashes.Compute(path, cancellationToken).DataSha256!;
        return ModelSpecFields.Propose(report, path, data);
    }

    /// <summary>
    /// Writes proposed ModelSpec values into metadata by SafeCkpt's rule: a key is filled only when it is missing or
    /// empty, so values already in the file are kept; <c>modelspec.hash_sha256</c> alone is always set to the computed
    /// hash, being a checksum of the tensor bytes rather than a choice.
    /// </summary>
    /// <param name="metadata">The metadata to fill (inside <see cref="Edit"/>).</param>
    /// <param name="proposed">Values from <see cref="ProposeModelSpec"/>.</param>
    /// <returns>The keys written.</returns>
    public static IReadOnlyList<string> FillModelSpec(IDictionary<string, string> metadata, IReadOnlyDictionary<string, string> proposed)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(proposed);
        return ModelSpecFields.Fill(metadata, proposed);
    }
}
