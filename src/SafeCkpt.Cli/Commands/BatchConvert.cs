using System.Diagnostics;
using SafeCkpt.IO;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>convert DIR -o DIR2 [--recursive] [--format safetensors|ckpt]</c>: every model file of a folder, each into
/// the same relative path under DIR2. Outputs that exist are skipped (unless <c>--overwrite</c>), a bad file does
/// not stop the others, a table sums it up, and the exit code is the worst of the files. Symlinked folders are not
/// followed and no folder is entered twice; no output is written outside DIR2. One progress line counts the input
/// bytes of all files.
/// </summary>
internal static class BatchConvert
{
    public static int Run(Terminal terminal, string inputDir, string outputDir, bool recursive, ConvertCommand.Options o, CancellationToken cancellationToken)
    {
        ModelFolder.ModelFiles found = ModelFolder.Find(inputDir, recursive);
        string[] files = found.Files;
        if (files.Length == 0)
        {
            throw new UsageException($"{inputDir} holds no model files (.safetensors, .ckpt, .pt, .pth, .bin, .gguf){(recursive ? string.Empty : "; add --recursive to look in subfolders")}");
        }

        string extension = o.Format == "ckpt" ? ".ckpt" : ".safetensors";
        using ModelFile? vae = o.VaePath is { } vaePath ? ModelFile.Open(vaePath) : null;
        var rows = new List<(string File, string Status, long Before, long After, double Seconds)>();
        int worst = ExitCodes.Success;
        long[] sizes = files.Select(f => new FileInfo(f).Length).ToArray();
        long done = 0;
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, string.Empty, sizes.Sum(), ProgressUnit.Bytes, o.Quiet, plainLines: false))
        {
            for (int i = 0; i < files.Length; i++)
            {
                string input = files[i];
                string relative = Path.GetRelativePath(inputDir, input);
                string output = Path.Combine(outputDir, Path.ChangeExtension(relative, extension));
                cancellationToken.ThrowIfCancellationRequested();
                long before = sizes[i];
                string step = $"[{i + 1}/{files.Length}] {relative}";
                progress.Description = step;
                if (!terminal.ErrIsRich && !o.Quiet)
                {
                    // Without a live progress line, a line per file shows the batch moving.
                    terminal.Out.WriteLine(step);
                }

                var watch = Stopwatch.StartNew();
                try
                {
                    if (File.Exists(output) && !o.Overwrite)
                    {
                        rows.Add((relative, "skipped (exists)", before, new FileInfo(output).Length, 0));
                        continue;
                    }

                    // Before creating any folder: a symlink already inside DIR2 must not lead the output elsewhere.
                    if (OutsideOutputFolder(outputDir, output) is { } resolved)
                    {
                        throw new OutputException(SafeCkptErrorCode.OutputNotWritable, output, $"{output}: its folder is {resolved} (through a symlink), outside {outputDir}; not written.");
                    }

                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
                    using ModelFile model = ModelFile.Open(input, o.Open);
                    ConversionResult r = ConvertCommand.Save(o.Build(model, vae), output, extension == ".ckpt", o, new FileShare(progress, done, before), cancellationToken);
                    rows.Add((relative, "converted", before, r.OutputFileBytes, watch.Elapsed.TotalSeconds));
                }
                catch (SafeCkptException ex)
                {
                    int code = ExitCodes.Of(ex);
                    worst = ExitCodes.Worst(worst, code);
                    rows.Add((relative, code == ExitCodes.Unsafe ? "REFUSED (unsafe)" : "FAILED", before, 0, watch.Elapsed.TotalSeconds));
                    terminal.Error(ErrorText.ForCli(ex.Message));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    worst = ExitCodes.Worst(worst, ExitCodes.OutputProblem);
                    rows.Add((relative, "FAILED", before, 0, watch.Elapsed.TotalSeconds));
                    terminal.Error($"{relative}: {ex.Message}");
                }
                finally
                {
                    done += before;
                    progress.Report(done);
                }
            }
        }

        if (!terminal.ErrIsRich && !o.Quiet)
        {
            terminal.Out.WriteLine();
        }

        Table table = Terminal.Table("FILE", "STATUS", ">BEFORE", ">AFTER", ">TIME");
        foreach (var r in rows)
        {
            Style status = r.Status == "converted" ? Palette.Good : r.Status.StartsWith("skipped", StringComparison.Ordinal) ? Palette.Dim : Palette.Bad;
            table.AddRow(new Text(r.File), new Text(r.Status, status), new Text(Format.Bytes(r.Before)), new Text(r.After > 0 ? Format.Bytes(r.After) : "-"), new Text(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{r.Seconds:0.0}s")));
        }

        terminal.Write(table);
        int converted = rows.Count(r => r.Status == "converted");
        int skipped = rows.Count(r => r.Status.StartsWith("skipped", StringComparison.Ordinal));
        int failed = rows.Count - converted - skipped;
        terminal.WriteLine($"{converted} converted, {skipped} skipped, {failed} failed.", Palette.ForExitCode(worst));
        if (found.SymlinkedFolders.Count > 0)
        {
            terminal.Out.WriteLine($"Also skipped {Format.Count(found.SymlinkedFolders.Count)} symlinked folder{(found.SymlinkedFolders.Count == 1 ? string.Empty : "s")} (batch mode does not follow them): {string.Join(", ", found.SymlinkedFolders)}.");
        }

        if (found.RepeatedFolders.Count > 0)
        {
            terminal.Out.WriteLine($"Also skipped {Format.Count(found.RepeatedFolders.Count)} folder{(found.RepeatedFolders.Count == 1 ? string.Empty : "s")} already visited under another name (a bind mount or folder hard link): {string.Join(", ", found.RepeatedFolders)}.");
        }

        return worst;
    }

    /// <summary>The resolved folder of <paramref name="output"/> when it is not inside the resolved <paramref name="outputDir"/> (a symlink leads elsewhere); null when it is.</summary>
    private static string? OutsideOutputFolder(string outputDir, string output)
    {
        string root = Path.TrimEndingDirectorySeparator(FileIdentity.ResolvePath(outputDir)) + Path.DirectorySeparatorChar;
        string folder = FileIdentity.ResolvePath(Path.GetDirectoryName(Path.GetFullPath(output))!);
        return (folder + Path.DirectorySeparatorChar).StartsWith(root, FileIdentity.PathComparison) ? null : folder;
    }

    /// <summary>One file's save as its share of the batch's input bytes.</summary>
    private sealed class FileShare(ProgressDisplay display, long before, long size) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) =>
            display.Report(before + (value.TotalBytes <= 0 ? size : (long)(size * ((double)value.BytesWritten / value.TotalBytes))));
    }
}
