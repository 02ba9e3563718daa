namespace SafeCkpt;

/// <summary>The container format of a model file, decided from its first bytes (never from its extension).</summary>
public enum ModelFormat
{
    /// <summary>Not a format SafeCkpt reads.</summary>
    Unknown = 0,

    /// <summary>A <c>.safetensors</c> file: a length-prefixed JSON header and raw tensor data.</summary>
    Safetensors,

    /// <summary>A PyTorch zip checkpoint (torch.save since PyTorch 1.6): <c>data.pkl</c> plus one record per storage.</summary>
    TorchZip,

    /// <summary>A legacy PyTorch checkpoint (before 1.6): five pickles followed by raw storages.</summary>
    TorchLegacy,

    /// <summary>A bare pickle stream (some <c>.bin</c>/<c>.pt</c> files).</summary>
    Pickle,

    /// <summary>A GGUF file (llama.cpp, stable-diffusion.cpp, ComfyUI-GGUF): a binary header, metadata and tensor infos, then aligned, possibly quantized tensor data.</summary>
    Gguf,
}
