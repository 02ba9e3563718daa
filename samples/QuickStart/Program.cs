// SafeCkpt's main job on the bundled model: inspect a training checkpoint, scan its pickle, convert it to a no-EMA
// fp16 safetensors file in one line, and inspect the result.
//   dotnet run --project samples/QuickStart [-- MODEL.ckpt [OUT.safetensors]]
using SafeCkpt;
using SafeCkpt.Safety;
using SafeCkpt.Tensors;

string input = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "sd1-tiny-ema.ckpt");
string output = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), "sd1-tiny-fp16.safetensors");

// 1. Scan: every global the pickle would import, judged against the allowlist. Nothing is executed.
ScanReport scan = CheckpointScanner.Scan(input);
Console.WriteLine($"scan {Path.GetFileName(input)}: {(scan.IsUnsafe ? "UNSAFE" : scan.IsMalformed ? "malformed" : "clean")}, {scan.Findings.Count} globals/opcodes");
foreach (ScanFinding f in scan.Findings.Take(6))
{
    Console.WriteLine($"  {f}");
}

if (scan.IsUnsafe || scan.IsMalformed)
{
    return 3;
}

// 2. Inspect, 3. convert (the one line a .NET app needs), 4. inspect the result.
using (ModelFile model = ModelFile.Open(input))
{
    Describe("before", model);
    ConversionResult result = model.SelectEma(false).ToHalf().SaveSafetensors(output, new SaveOptions { Overwrite = true });
    foreach (string note in result.Plan.Notes)
    {
        Console.WriteLine($"  {note}");
    }
}

using (ModelFile converted = ModelFile.Open(output))
{
    Describe("after", converted);
}

return 0;

static void Describe(string when, ModelFile m)
{
    TensorStore t = m.Tensors;
    var dtypes = t.Tensors.GroupBy(x => x.DType).Select(g => $"{g.Key.ToSafetensorsName()} x{g.Count()}");
    var parts = m.DetectArchitecture().Components.Select(c => $"{c.Component} {c.TensorCount}");
    Console.WriteLine($"{when,-6} {Path.GetFileName(m.Path)}: {m.Format}, {t.Count} tensors, {new FileInfo(m.Path).Length:N0} bytes on disk");
    Console.WriteLine($"       dtypes: {string.Join(", ", dtypes)}");
    Console.WriteLine($"       parts:  {string.Join(", ", parts)}");
    if (m.Checkpoint is { } info)
    {
        Console.WriteLine($"       values: {string.Join(", ", info.Values.Take(4).Select(kv => $"{kv.Key}={kv.Value}"))}");
    }
}
