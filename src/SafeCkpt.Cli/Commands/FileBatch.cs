namespace SafeCkpt.Cli.Commands;

/// <summary>
/// The loop of the commands that take many files (<c>scan</c>, <c>hash</c>, <c>inspect</c>): each input in turn under
/// one progress line, a failure reported and the others carried on, the exit code the worst of all.
/// </summary>
internal static class FileBatch
{
    /// <summary>Runs <paramref name="each"/> on every input; an input that cannot be read goes to <paramref name="failed"/>.</summary>
    /// <param name="terminal">Where progress shows.</param>
    /// <param name="inputs">The files.</param>
    /// <param name="progress">The progress line (files, or bytes when <paramref name="bytes"/> is set).</param>
    /// <param name="bytes">Count bytes: the progress of each file is reported by <paramref name="each"/> through the offset it is given.</param>
    /// <param name="each">Handles one input and returns its exit code; it gets the bytes done before it.</param>
    /// <param name="failed">Records an input that failed.</param>
    /// <param name="cancellationToken">Stops between files (and inside one, where <paramref name="each"/> observes it).</param>
    /// <returns>The worst exit code.</returns>
    public static int Run(Terminal terminal, Inputs inputs, ProgressDisplay progress, bool bytes, Func<Input, long, int> each, Action<Input, ErrorReport> failed, CancellationToken cancellationToken)
    {
        int worst = ExitCodes.Success;
        long done = 0;
        for (int i = 0; i < inputs.Files.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Input input = inputs.Files[i];
            progress.Description = inputs.Files.Count == 1 ? input.Shown : $"[{i + 1}/{inputs.Files.Count}] {input.Shown}";
            int code;
            try
            {
                code = each(input, done);
            }
            catch (Exception ex) when (ex is SafeCkptException or IOException or UnauthorizedAccessException)
            {
                ErrorReport error = ErrorReport.From(ex, input.Shown);
                terminal.Error(error.Message);
                failed(input, error);
                code = error.ExitCode;
            }

            worst = ExitCodes.Worst(worst, code);
            done += bytes ? Length(input.Path) : 1;
            progress.Report(done);
        }

        return worst;
    }

    /// <summary>The total the progress line counts to: files, or their bytes.</summary>
    public static long Total(Inputs inputs, bool bytes) => bytes ? inputs.Files.Sum(f => Length(f.Path)) : inputs.Files.Count;

    /// <summary>Notes the folders that were not entered (symlinked, or visited under another name).</summary>
    public static void NoteSkippedFolders(Terminal terminal, Inputs inputs)
    {
        if (inputs.SkippedFolders.Count > 0)
        {
            terminal.Note($"skipped {Format.Count(inputs.SkippedFolders.Count)} symlinked or repeated folder{(inputs.SkippedFolders.Count == 1 ? string.Empty : "s")} (not followed): {string.Join(", ", inputs.SkippedFolders)}");
        }
    }

    /// <summary>Throws the usage error for folders that hold no model file.</summary>
    public static void RequireFiles(Inputs inputs, IReadOnlyList<string> paths, bool recursive)
    {
        if (inputs.Files.Count == 0)
        {
            throw new UsageException($"{string.Join(", ", paths)} hold{(paths.Count == 1 ? "s" : string.Empty)} no model files (.safetensors, .ckpt, .pt, .pth, .bin, .gguf){(recursive ? string.Empty : "; add --recursive to look in subfolders")}");
        }
    }

    private static long Length(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
