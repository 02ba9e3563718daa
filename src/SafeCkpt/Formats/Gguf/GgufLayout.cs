namespace SafeCkpt.Formats.Gguf;

/// <summary>What a GGUF file says about itself beyond its tensors' logical view: for <c>inspect</c>.</summary>
/// <param name="Version">The format version (2 or 3).</param>
/// <param name="Alignment">The data alignment in bytes (<c>general.alignment</c>, default 32).</param>
/// <param name="KeyCount">The number of metadata key-value pairs.</param>
/// <param name="Architecture"><c>general.architecture</c>, or null when the file has none (stable-diffusion.cpp files).</param>
/// <param name="Types">Each tensor's stored ggml type, by name.</param>
/// <param name="Reshaped">The tensors whose shape came from <c>comfy.gguf.orig_shape.*</c>.</param>
internal sealed record GgufLayout(uint Version, uint Alignment, long KeyCount, string? Architecture, IReadOnlyDictionary<string, GgmlType> Types, IReadOnlySet<string> Reshaped);
