using System.Text.Json;

namespace SafeCkpt.Cli;

/// <summary>
/// An error as the tool reports it: one line on standard error and, with <c>--json</c>, an object on standard output
/// (<c>{"code", "message", "file", "offset", "tensor"}</c>). The code is the library's <see cref="SafeCkptErrorCode"/>
/// name, or one of the tool's own: <c>Usage</c>, <c>Interrupted</c>, <c>IOError</c>, <c>InternalError</c>.
/// </summary>
/// <param name="Code">The machine-readable reason.</param>
/// <param name="Message">The message, with the library's API names turned into the tool's flags.</param>
/// <param name="File">The file concerned, if known.</param>
/// <param name="Offset">The byte offset in the file (or pickle) where the problem was found, if known.</param>
/// <param name="Tensor">The tensor or entry concerned, if any.</param>
/// <param name="ExitCode">The exit code the error leads to.</param>
internal sealed record ErrorReport(string Code, string Message, string? File, long? Offset, string? Tensor, int ExitCode)
{
    /// <summary>The report of an exception; <paramref name="file"/> names the input when the exception does not.</summary>
    public static ErrorReport From(Exception ex, string? file = null) => ex switch
    {
        SafeCkptException s => new(s.Code.ToString(), ErrorText.ForCli(s.Message), s.FilePath ?? file, s.Offset, s.TensorName, ExitCodes.Of(s)),
        UsageException => new("Usage", ex.Message, file, null, null, ExitCodes.Usage),
        IOException or UnauthorizedAccessException => new("IOError", file is null || ex.Message.Contains(file, StringComparison.Ordinal) ? ex.Message : $"{file}: {ex.Message}", file, null, null, ExitCodes.InvalidInput),
        _ => new("InternalError", $"internal error: {ex.GetType().Name}: {ex.Message}", file, null, null, ExitCodes.InvalidInput),
    };

    /// <summary>Writes the fields of the error object.</summary>
    public void WriteFields(Utf8JsonWriter w)
    {
        w.WriteString("code", Code);
        w.WriteString("message", Message);
        w.WriteString("file", File);
        if (Offset is long offset)
        {
            w.WriteNumber("offset", offset);
        }
        else
        {
            w.WriteNull("offset");
        }

        w.WriteString("tensor", Tensor);
    }

    /// <summary>Writes <c>"error": {...}</c>, for one file of several.</summary>
    public void WriteProperty(Utf8JsonWriter w)
    {
        w.WriteStartObject("error");
        WriteFields(w);
        w.WriteEndObject();
    }
}
