namespace SafeCkpt.Cli;

/// <summary>A command-line usage error: printed with the usage line, exit code 1.</summary>
internal sealed class UsageException(string message) : Exception(message);
