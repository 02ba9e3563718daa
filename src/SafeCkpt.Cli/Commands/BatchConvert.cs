using System.Diagnostics;
using SafeCkpt.IO;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>convert DIR --out DIR2 [--recursive] [--format safetensors|ckpt]</c>: every model file of a folder, each into
/// the same relative path under DIR2. Outputs that exist are skipped (unless <c>--overwrite</c>), a bad file does
/// not stop the others, a table sums it up, and the exit code is non-zero if any file failed. Symlinked folders
/// are not followed and no folder is entered twice; no output is written outside DIR2.
/// </summary>
internal static class BatchConvert
{
    private static readonly string[] ModelExtensions = [".safetensors", ".ckpt", ".pt", ".pth", ".bin"];

    public static int Run(string inputDir, string outputDir, bool recursive, ConvertCommand.Options o, TextWriter stdout, TextWriter stderr)
    {
        if (o.DryRun || o.Json)
        {
            throw new UsageException("--dry-run and --json apply to one file; convert a folder without them");
        }

        ModelFiles found = FindModels(inputDir, recursive);
        string[] files = found.Files;
        if (files.Length == 0)
        {
            throw new UsageException($"{inputDir} holds no model files (.safetensors, .ckpt, .pt, .pth, .bin){(recursive ? string.Empty : "; add --recursive to look in subfolders")}");
        }

        string extension = o.Format == "ckpt" ? ".ckpt" : ".safetensors";
        using ModelFile? vae = o.VaePath is { } vaePath ? ModelFile.Open(vaePath) : null;
        var rows = new List<(string File, string Status, long Before, long After, double Seconds)>();
        int worst = ExitCodes.Success;
        for (int i = 0; i < files.Length; i++)
        {
            string input = files[i];
            string relative = Path.GetRelativePath(inputDir, input);
            string output = Path.Combine(outputDir, Path.ChangeExtension(relative, extension));
            Interrupt.Token.ThrowIfCancellationRequested();
            long before = new FileInfo(input).Length;
            stdout.WriteLine($"[{i + 1}/{files.Length}] {relative}");
            if (File.Exists(output) && !o.Overwrite)
            {
                rows.Add((relative, "skipped (exists)", before, new FileInfo(output).Length, 0));
                continue;
            }

            var watch = Stopwatch.StartNew();
            try
            {
                // Before creating any folder: a symlink already inside DIR2 must not lead the output elsewhere.
                if (OutsideOutputFolder(outputDir, output) is { } resolved)
                {
                    throw new OutputException(SafeCkptErrorCode.OutputNotWritable, output, $"{output}: its folder is {resolved} (through a symlink), outside {outputDir}; not written.");
                }

                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
                using ModelFile model = ModelFile.Open(input);
                using var progress = ProgressBar.Create(stderr, quiet: false);
                ConversionResult r = ConvertCommand.Save(o.Build(model, vae), output, extension == ".ckpt", o.Overwrite, progress);
                progress?.Finish();
                rows.Add((relative, "converted", before, r.OutputFileBytes, watch.Elapsed.TotalSeconds));
            }
            catch (SafeCkptException ex)
            {
                int code = CliApp.ExitCodeOf(ex);
                worst = Worse(worst, code);
                rows.Add((relative, code == ExitCodes.Unsafe ? "REFUSED (unsafe)" : "FAILED", before, 0, watch.Elapsed.TotalSeconds));
                stderr.WriteLine($"safeckpt: {ErrorText.ForCli(ex.Message)}");
            }
            catch (IOException ex)
            {
                worst = Worse(worst, ExitCodes.OutputProblem);
                rows.Add((relative, "FAILED", before, 0, watch.Elapsed.TotalSeconds));
                stderr.WriteLine($"safeckpt: {relative}: {ex.Message}");
            }
        }

        int width = Math.Max(4, rows.Max(r => r.File.Length));
        stdout.WriteLine();
        stdout.WriteLine($"{"FILE".PadRight(width)}  {"STATUS",-17}  {"BEFORE",10}  {"AFTER",10}  {"TIME",7}");
        foreach (var r in rows)
        {
            stdout.WriteLine($"{r.File.PadRight(width)}  {r.Status,-17}  {Format.Bytes(r.Before),10}  {(r.After > 0 ? Format.Bytes(r.After) : "-"),10}  {r.Seconds,6:0.0}s");
        }

        int converted = rows.Count(r => r.Status == "converted");
        int skipped = rows.Count(r => r.Status.StartsWith("skipped", StringComparison.Ordinal));
        int failed = rows.Count - converted - skipped;
        stdout.WriteLine($"{converted} converted, {skipped} skipped, {failed} failed.");
        if (found.SymlinkedFolders.Count > 0)
        {
            stdout.WriteLine($"Also skipped {Format.Count(found.SymlinkedFolders.Count)} symlinked folder{(found.SymlinkedFolders.Count == 1 ? string.Empty : "s")} (batch mode does not follow them): {string.Join(", ", found.SymlinkedFolders)}.");
        }

        if (found.RepeatedFolders.Count > 0)
        {
            stdout.WriteLine($"Also skipped {Format.Count(found.RepeatedFolders.Count)} folder{(found.RepeatedFolders.Count == 1 ? string.Empty : "s")} already visited under another name (a bind mount or folder hard link): {string.Join(", ", found.RepeatedFolders)}.");
        }

        return worst;
    }

    /// <summary>The model files of a folder, and the subfolders not entered.</summary>
    /// <param name="Files">Full paths of the model files, in ordinal order; symlinked files are included (they are inputs like any other).</param>
    /// <param name="SymlinkedFolders">Symlinked (or junction) subfolders, relative to the input folder: never followed, so a link loop cannot repeat or never end.</param>
    /// <param name="RepeatedFolders">Subfolders that are a folder already visited (same <see cref="IO.FileIdentity"/>), e.g. a bind mount of a parent.</param>
    internal sealed record ModelFiles(string[] Files, List<string> SymlinkedFolders, List<string> RepeatedFolders);

    /// <summary>Walks the folder (and with <paramref name="recursive"/> its subfolders), entering each folder once and no symlinked folder.</summary>
    internal static ModelFiles FindModels(string inputDir, bool recursive)
    {
        var options = new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false };
        var files = new List<string>();
        var symlinked = new List<string>();
        var repeated = new List<string>();
        var visited = new HashSet<string>(FileIdentity.PathComparison == StringComparison.Ordinal ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        var pending = new Stack<string>();
        string root = Path.GetFullPath(inputDir);
        visited.Add(FolderKey(root));
        pending.Push(root);
        while (pending.TryPop(out string? folder))
        {
            foreach (FileSystemInfo entry in new DirectoryInfo(folder).EnumerateFileSystemInfos("*", options))
            {
                if (entry is not DirectoryInfo)
                {
                    if (ModelExtensions.Contains(Path.GetExtension(entry.Name).ToLowerInvariant()))
                    {
                        files.Add(entry.FullName);
                    }
                }
                else if (!recursive)
                {
                    continue;
                }
                else if (entry.LinkTarget is not null || entry.Attributes.HasFlag(FileAttributes.ReparsePoint))
                {
                    symlinked.Add(Path.GetRelativePath(root, entry.FullName));
                }
                else if (!visited.Add(FolderKey(entry.FullName)))
                {
                    repeated.Add(Path.GetRelativePath(root, entry.FullName));
                }
                else
                {
                    pending.Push(entry.FullName);
                }
            }
        }

        symlinked.Sort(StringComparer.Ordinal);
        repeated.Sort(StringComparer.Ordinal);
        return new ModelFiles(files.Order(StringComparer.Ordinal).ToArray(), symlinked, repeated);
    }

    /// <summary>A folder's identity as a set key; its resolved path where the identity cannot be read.</summary>
    private static string FolderKey(string folder) =>
        FileIdentity.Of(folder) is { } id ? $"id:{id.Device}:{id.Index}" : "path:" + FileIdentity.ResolvePath(folder);

    /// <summary>The resolved folder of <paramref name="output"/> when it is not inside the resolved <paramref name="outputDir"/> (a symlink leads elsewhere); null when it is.</summary>
    private static string? OutsideOutputFolder(string outputDir, string output)
    {
        string root = Path.TrimEndingDirectorySeparator(FileIdentity.ResolvePath(outputDir)) + Path.DirectorySeparatorChar;
        string folder = FileIdentity.ResolvePath(Path.GetDirectoryName(Path.GetFullPath(output))!);
        return (folder + Path.DirectorySeparatorChar).StartsWith(root, FileIdentity.PathComparison) ? null : folder;
    }

    /// <summary>The exit code to report when several files failed: unsafe first, then output problems, then bad input.</summary>
    private static int Worse(int a, int b) => Rank(a) >= Rank(b) ? a : b;

    private static int Rank(int code) => code switch
    {
        ExitCodes.Unsafe => 3,
        ExitCodes.OutputProblem => 2,
        ExitCodes.InvalidInput => 1,
        _ => 0,
    };
}
