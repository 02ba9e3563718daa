using System.Diagnostics;
using SafeCkpt.Transforms;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>convert DIR --out DIR2 [--recursive] [--format safetensors|ckpt]</c>: every model file of a folder, each into
/// the same relative path under DIR2. Outputs that exist are skipped (unless <c>--overwrite</c>), a bad file does
/// not stop the others, a table sums it up, and the exit code is non-zero if any file failed.
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

        string[] files = Directory.EnumerateFiles(inputDir, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(f => ModelExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal)
            .ToArray();
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
                stderr.WriteLine($"safeckpt: {ex.Message}");
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
        return worst;
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
