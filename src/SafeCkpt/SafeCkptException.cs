namespace SafeCkpt;

/// <summary>
/// The base of every error SafeCkpt reports about files: malformed or unsupported input, content refused as
/// unsafe, and problems writing output. Each message names the file, the place (tensor, byte offset) when
/// known, and what the user can do.
/// </summary>
public class SafeCkptException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public SafeCkptException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public SafeCkptException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public SafeCkptException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned, if any.</param>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public SafeCkptException(SafeCkptErrorCode code, string? filePath, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        FilePath = filePath;
    }

    /// <summary>The machine-readable reason.</summary>
    public SafeCkptErrorCode Code { get; }

    /// <summary>The file concerned, if any.</summary>
    public string? FilePath { get; }

    /// <summary>The byte offset in the file (or in the pickle) where the problem was found, if known.</summary>
    public long? Offset { get; init; }

    /// <summary>The tensor or entry name concerned, if any.</summary>
    public string? TensorName { get; init; }
}

/// <summary>
/// The input is not a valid model file of the format it claims, or not a format SafeCkpt reads. Nothing in it
/// was executed; the file may be truncated, corrupt, or something else saved under a model's name.
/// </summary>
public class InvalidCheckpointException : SafeCkptException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public InvalidCheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public InvalidCheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public InvalidCheckpointException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned, if any.</param>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public InvalidCheckpointException(SafeCkptErrorCode code, string? filePath, string message, Exception? innerException = null)
        : base(code, filePath, message, innerException)
    {
    }
}

/// <summary>
/// A GGUF file breaks a rule of the format (see <see cref="SafeCkptException.Code"/>: version, strings, value types,
/// tensor infos, type ids, alignment, offsets), or holds a tensor type SafeCkpt cannot dequantize.
/// </summary>
public sealed class InvalidGgufException : InvalidCheckpointException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public InvalidGgufException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public InvalidGgufException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public InvalidGgufException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned.</param>
    /// <param name="message">A message a person can act on.</param>
    public InvalidGgufException(SafeCkptErrorCode code, string? filePath, string message)
        : base(code, filePath, message)
    {
    }
}

/// <summary>The input is not a model format SafeCkpt reads (an HTML page, an archive, an empty file, ...).</summary>
public sealed class UnsupportedFormatException : InvalidCheckpointException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public UnsupportedFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public UnsupportedFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public UnsupportedFormatException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned.</param>
    /// <param name="message">A message a person can act on.</param>
    public UnsupportedFormatException(SafeCkptErrorCode code, string? filePath, string message)
        : base(code, filePath, message)
    {
    }
}

/// <summary>
/// The input could not be read at all: it does not exist, is not accessible, or the device failed.
/// </summary>
public sealed class InputReadException : SafeCkptException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public InputReadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public InputReadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public InputReadException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned.</param>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public InputReadException(SafeCkptErrorCode code, string? filePath, string message, Exception? innerException = null)
        : base(code, filePath, message, innerException)
    {
    }
}

/// <summary>
/// The output could not be written: it exists (and overwriting was not asked for), it is the input, the folder is
/// not writable, or the disk is full. No partial output is left behind.
/// </summary>
public sealed class OutputException : SafeCkptException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public OutputException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public OutputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public OutputException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The output file concerned.</param>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public OutputException(SafeCkptErrorCode code, string? filePath, string message, Exception? innerException = null)
        : base(code, filePath, message, innerException)
    {
    }
}

/// <summary>
/// The input was refused because reading it as its format intends would run code or trust code: a pickle importing
/// a global outside SafeCkpt's allowlist (<c>os.system</c>, <c>builtins.eval</c>, ...), a forbidden pickle opcode,
/// or an archive that is TorchScript, a torch.package or a polyglot. Nothing in the file was executed; the message
/// names what was found and where.
/// </summary>
public sealed class UnsafeCheckpointException : SafeCkptException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public UnsafeCheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public UnsafeCheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public UnsafeCheckpointException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned, if any.</param>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public UnsafeCheckpointException(SafeCkptErrorCode code, string? filePath, string message, Exception? innerException = null)
        : base(code, filePath, message, innerException)
    {
    }

    /// <summary>The refused global as <c>module.name</c> (e.g. <c>os.system</c>), when a global was the reason.</summary>
    public string? GlobalName { get; init; }

    /// <summary>The archive record or pickle holding the refused content (e.g. <c>archive/data.pkl</c>), if known.</summary>
    public string? RecordName { get; init; }
}

/// <summary>
/// A conversion cannot be done as asked: EMA weights requested from a file without them, a VAE whose shapes do
/// not fit the model, a dtype the output cannot hold. The input is fine; the request does not fit it.
/// </summary>
public sealed class ConversionException : SafeCkptException
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A message a person can act on.</param>
    public ConversionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">A message a person can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public ConversionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (prefer the other constructors).</summary>
    public ConversionException()
    {
    }

    /// <summary>Creates an exception with full detail.</summary>
    /// <param name="code">The machine-readable reason.</param>
    /// <param name="filePath">The file concerned, if any.</param>
    /// <param name="message">A message a person can act on.</param>
    public ConversionException(SafeCkptErrorCode code, string? filePath, string message)
        : base(code, filePath, message)
    {
    }
}
