// A folder of downloads converted to fp16 safetensors, with progress and a summary; bad or unsafe files are
// reported and skipped, never loaded.
//   dotnet run --project samples/BatchConvert -- IN_DIR OUT_DIR
//   (without arguments it converts the bundled test checkpoints into a temporary folder)
using System.Diagnostics;
using SafeCkpt;

string inputDir = args.Length > 0 ? args[0] : FindFixtures();
string outputDir = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), "safeckpt-batch-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(outputDir);
string[] files = Directory.GetFiles(inputDir).Where(f => Path.GetExtension(f) is ".ckpt" or ".pt" or ".pth" or ".bin" or ".safetensors").Order().ToArray();
var summary = new List<(string Name, string Status, long Before, long After)>();
foreach (string file in files)
{
    string name = Path.GetFileName(file);
    string output = Path.Combine(outputDir, Path.ChangeExtension(name, ".safetensors"));
    var watch = Stopwatch.StartNew();
    try
    {
        using ModelFile model = ModelFile.Open(file);
        ModelPipeline pipeline = model.Tensors.Tensors.Any(t => t.Name.StartsWith("model_ema.", StringComparison.Ordinal)) ? model.SelectEma(false).ToHalf() : model.ToHalf();
        var progress = new Progress<SaveProgress>(p => Console.Write($"\r  {name}: {100.0 * p.BytesWritten / Math.Max(1, p.TotalBytes),5:0.0}%"));
        ConversionResult r = pipeline.SaveSafetensors(output, new SaveOptions { Overwrite = true, Progress = progress });
        Console.WriteLine($"\r  {name}: done in {watch.Elapsed.TotalMilliseconds:0} ms");
        summary.Add((name, "converted", new FileInfo(file).Length, r.OutputFileBytes));
    }
    catch (UnsafeCheckpointException ex)
    {
        summary.Add((name, "refused: " + ex.GlobalName, new FileInfo(file).Length, 0));
    }
    catch (SafeCkptException ex)
    {
        summary.Add((name, "failed: " + ex.Code, new FileInfo(file).Length, 0));
    }
}

Console.WriteLine();
foreach (var s in summary)
{
    Console.WriteLine($"{s.Name,-28} {s.Status,-30} {s.Before,12:N0} -> {(s.After > 0 ? s.After.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) : "-"),12}");
}

Console.WriteLine($"{summary.Count(s => s.Status == "converted")} of {summary.Count} converted into {outputDir}");
return summary.Any(s => s.Status == "converted") ? 0 : 1;

static string FindFixtures()
{
    for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
    {
        string candidate = Path.Combine(d.FullName, "tests", "SafeCkpt.Tests", "Fixtures", "ckpt");
        if (Directory.Exists(candidate))
        {
            return candidate;
        }
    }

    throw new DirectoryNotFoundException("Give an input folder: dotnet run --project samples/BatchConvert -- IN_DIR OUT_DIR");
}
