namespace SafeCkpt;

/// <summary>
/// A stable, machine-readable reason for a <see cref="SafeCkptException"/>. Messages may be reworded between
/// versions; these codes will not.
/// </summary>
public enum SafeCkptErrorCode
{
    /// <summary>No more specific code applies.</summary>
    Unspecified = 0,

    /// <summary>The input file does not exist.</summary>
    FileNotFound,

    /// <summary>The input file exists but could not be read (permissions, I/O error, a folder instead of a file).</summary>
    FileUnreadable,

    /// <summary>The input file is empty.</summary>
    EmptyFile,

    /// <summary>The input is not a format SafeCkpt reads (an HTML page, an archive, a GGUF file, ...).</summary>
    UnsupportedFormat,

    /// <summary>The file ended before a structure it declares (a header, a tensor) was complete.</summary>
    Truncated,

    /// <summary>safetensors: the file is shorter than the 8-byte header-length prefix.</summary>
    HeaderTooSmall,

    /// <summary>safetensors: the declared header length is above the format's 100,000,000-byte limit.</summary>
    HeaderTooLarge,

    /// <summary>safetensors: the declared header length reaches past the end of the file.</summary>
    HeaderOutsideFile,

    /// <summary>safetensors: the header is not valid UTF-8.</summary>
    HeaderNotUtf8,

    /// <summary>safetensors: the header is not well-formed JSON.</summary>
    HeaderNotJson,

    /// <summary>safetensors: the header's JSON value is not an object, or a tensor entry is not an object.</summary>
    HeaderNotObject,

    /// <summary>safetensors: the header has bytes other than JSON whitespace after the JSON object (NUL padding, say).</summary>
    HeaderTrailingBytes,

    /// <summary>A name appears twice (two tensors, two metadata keys, two fields of one entry, two zip entries).</summary>
    DuplicateKey,

    /// <summary>A tensor entry lacks a required field, has an unknown field, or a field of the wrong JSON type.</summary>
    InvalidTensorEntry,

    /// <summary>A tensor's dtype is not one SafeCkpt knows.</summary>
    UnknownDType,

    /// <summary>A tensor's shape has a negative, fractional or out-of-range dimension, or too many dimensions.</summary>
    InvalidShape,

    /// <summary>A tensor's element count or byte size overflows 64-bit arithmetic.</summary>
    ShapeOverflow,

    /// <summary>A tensor's data offsets are not two non-negative integers with begin &lt;= end.</summary>
    InvalidOffsets,

    /// <summary>A tensor's byte span does not equal elements x bits / 8 for its shape and dtype.</summary>
    ByteLengthMismatch,

    /// <summary>A sub-byte dtype (F4, F6) tensor does not end on a whole byte.</summary>
    MisalignedSubByte,

    /// <summary>safetensors: the tensor spans leave a hole in the data section.</summary>
    DataGap,

    /// <summary>safetensors: two tensor spans overlap.</summary>
    DataOverlap,

    /// <summary>safetensors: the file has bytes after the end of the last tensor (a polyglot or a damaged file).</summary>
    TrailingData,

    /// <summary>safetensors: <c>__metadata__</c> is not an object mapping strings to strings.</summary>
    InvalidMetadata,

    /// <summary>The output file exists and overwriting was not asked for.</summary>
    OutputExists,

    /// <summary>The output path names the input file.</summary>
    OutputIsInput,

    /// <summary>The output could not be created or written (permissions, missing folder, I/O error).</summary>
    OutputNotWritable,

    /// <summary>The output device is full.</summary>
    DiskFull,

    /// <summary>EMA weights were asked for but the file has none (or none that match the UNet).</summary>
    EmaNotFound,

    /// <summary>A replacement tensor (a VAE being baked in) has another shape than the tensor it replaces.</summary>
    ShapeMismatch,

    /// <summary>A file given as a VAE holds no VAE weights.</summary>
    NotAVae,

    /// <summary>A pickle imports a global (a Python class or function) that is not on SafeCkpt's exact allowlist.</summary>
    UnsafeGlobal,

    /// <summary>A pickle uses an opcode, or an allowed opcode in a way (REDUCE, BUILD, persistent id), that SafeCkpt refuses.</summary>
    UnsafeOpcode,

    /// <summary>The archive is not a weights checkpoint but code (TorchScript, torch.package) or a polyglot of two formats.</summary>
    UnsafeArchive,

    /// <summary>A pickle exceeds a resource limit (size, opcodes, memo, stack, nesting, work): a crafted or broken file.</summary>
    PickleLimitExceeded,

    /// <summary>A pickle is malformed: truncated, an unknown opcode, a missing memo entry, a value of the wrong type.</summary>
    InvalidPickle,

    /// <summary>A zip archive is malformed or breaks a rule of PyTorch checkpoints (names, sizes, encryption, overlaps).</summary>
    InvalidArchive,

    /// <summary>A storage reference is malformed, missing its record, or used with two different types or sizes.</summary>
    InvalidStorage,

    /// <summary>A storage record's byte size is not its declared element count times the element size.</summary>
    StorageSizeMismatch,

    /// <summary>A tensor view (offset, sizes, strides) reaches outside its storage, or has negative strides.</summary>
    ViewOutOfBounds,

    /// <summary>A tensor's dtype has no equivalent in the format being read or written (complex128 and quantized types in safetensors; U16/U32/U64/F8 in a .ckpt), or cannot be converted as asked.</summary>
    UnsupportedDType,

    /// <summary>The checkpoint stores data in a byte order SafeCkpt cannot convert (a record other than 'little' or 'big').</summary>
    UnsupportedByteOrder,

    /// <summary>
    /// The file holds a construct that runs no code but that SafeCkpt does not read or convert: sparse, meta or
    /// quantized tensors, protocol-0 text opcodes, a tensor whose data a later BUILD replaces, non-empty tensor state.
    /// </summary>
    UnsupportedConstruct,

    /// <summary>
    /// The container can be read two ways by two readers (several end-of-central-directory records, local and central
    /// headers that disagree, names equal except for case), so a checker and a loader could see different files.
    /// </summary>
    AmbiguousArchive,

    /// <summary>
    /// The file is torch's oldest (tar) checkpoint format, or a file that also parses as one: torch.load would
    /// unpickle its members with the full, unrestricted pickle module.
    /// </summary>
    TarCheckpoint,

    /// <summary>
    /// A resource an input controls exceeds its budget: tensor count, name length, total name bytes, bytes inflated,
    /// or output bytes relative to stored bytes (a stride-0 view expanding one element to gigabytes).
    /// </summary>
    ResourceLimitExceeded,

    /// <summary>A conversion would write no tensor from a file that holds tensors (all dropped, or all outside the state dict).</summary>
    NoTensorsToWrite,

    /// <summary>No tensor of the name asked for exists in the file.</summary>
    TensorNotFound,

    /// <summary>
    /// A metadata edit of the file was interrupted (killed, power lost) and its undo journal could not be applied:
    /// no permission to write the file, or the journal no longer matches the file.
    /// </summary>
    InterruptedEdit,

    /// <summary>A file given as a LoRA holds no LoRA weights, or the file given as the model to apply a LoRA to is a LoRA.</summary>
    NotALora,

    /// <summary>A GGUF file has a version SafeCkpt does not read (only 2 and 3 are), or is big-endian.</summary>
    GgufUnsupportedVersion,

    /// <summary>A GGUF string (key, tensor name or value) is empty where a name is needed, too long, runs past the end of the file, or is not UTF-8.</summary>
    GgufInvalidString,

    /// <summary>A GGUF metadata value has an unknown type, a nested array, or a type its key does not allow (general.alignment, comfy.gguf.orig_shape.*).</summary>
    GgufInvalidValue,

    /// <summary>A GGUF tensor info is malformed: too many dimensions, a row length that is not a whole number of blocks, or a shape that does not fit its original shape.</summary>
    GgufInvalidTensorInfo,

    /// <summary>A GGUF tensor has a ggml type id that does not exist (unknown or removed from ggml).</summary>
    GgufUnknownTensorType,

    /// <summary>A GGUF alignment is not a power of two, or a tensor's data offset is not a multiple of it.</summary>
    GgufMisaligned,

    /// <summary>A GGUF tensor is quantized with a ggml type SafeCkpt cannot dequantize (the IQ, TQ, FP4 and Q8_1/Q8_K types).</summary>
    GgufUnsupportedTensorType,

    /// <summary>
    /// The conversion would have to dequantize or requantize weights it cannot: a quantized format SafeCkpt reads but
    /// does not convert (bitsandbytes NF4/FP4, nunchaku SVDQuant, ComfyUI's int8, NVFP4, MXFP8, ...), or scaled fp8
    /// asked to become fp8 again. Converting without a dtype copies such a file as it is.
    /// </summary>
    UnsupportedQuantization,

    /// <summary>
    /// A GGUF was asked for from a file whose diffusion model (UNet / transformer) is missing or has no ComfyUI-GGUF
    /// architecture id (a VAE, a text encoder, a LoRA, a diffusers-layout transformer), or whose tensors cannot take
    /// the GGUF type asked for.
    /// </summary>
    GgufNotWritable,
}
