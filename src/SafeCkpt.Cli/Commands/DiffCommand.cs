using System.Globalization;
using System.Text.Json;
using SafeCkpt.Analysis;
using SafeCkpt.Tensors;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt diff A B [--all] [--json]</c>: missing and extra keys, shape and dtype changes, and per-tensor maximum
/// and mean absolute difference, streaming. Text output lists the tensors that differ, largest difference first
/// (the 40 largest unless <c>--all</c>).
/// </summary>
internal static class DiffCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--json", "--all"], []);
        if (a.Positional.Count != 2)
        {
            throw new UsageException("diff needs two files: diff A B");
        }

        using ModelFile ma = ModelFile.Open(a.Positional[0]);
        using ModelFile mb = ModelFile.Open(a.Positional[1]);
        DiffReport r = ModelDiff.Compare(ma.Tensors, mb.Tensors);
        var changed = r.Common.Where(d => !d.BytesEqual).OrderByDescending(d => double.IsNaN(d.MaxAbsDiff) ? double.PositiveInfinity : d.MaxAbsDiff).ToList();
        if (a.Has("--json"))
        {
            JsonOutput.Write(stdout, w =>
            {
                w.WriteString("a", ma.Path);
                w.WriteString("b", mb.Path);
                JsonOutput.WriteStrings(w, "onlyInA", r.OnlyInA);
                JsonOutput.WriteStrings(w, "onlyInB", r.OnlyInB);
                w.WriteNumber("common", r.Common.Count);
                w.WriteNumber("identical", r.Common.Count - changed.Count);
                w.WriteStartArray("differences");
                foreach (TensorDiff d in changed)
                {
                    w.WriteStartObject();
                    w.WriteString("name", d.Name);
                    w.WriteString("dtypeA", d.A.DType.ToSafetensorsName());
                    w.WriteString("dtypeB", d.B.DType.ToSafetensorsName());
                    w.WriteString("shapeA", d.A.FormatShape());
                    w.WriteString("shapeB", d.B.FormatShape());
                    WriteNumber(w, "maxAbsDiff", d.MaxAbsDiff);
                    WriteNumber(w, "meanAbsDiff", d.MeanAbsDiff);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
        }
        else
        {
            stdout.WriteLine($"A: {ma.Path} ({Format.Count(ma.Tensors.Count)} tensors)");
            stdout.WriteLine($"B: {mb.Path} ({Format.Count(mb.Tensors.Count)} tensors)");
            stdout.WriteLine($"Only in A: {Format.Count(r.OnlyInA.Count)}{Examples(r.OnlyInA)}");
            stdout.WriteLine($"Only in B: {Format.Count(r.OnlyInB.Count)}{Examples(r.OnlyInB)}");
            stdout.WriteLine($"In both:   {Format.Count(r.Common.Count)} ({Format.Count(r.Common.Count - changed.Count)} identical, {Format.Count(changed.Count)} different)");
            if (changed.Count > 0)
            {
                int width = Math.Min(70, changed.Max(d => d.Name.Length));
                stdout.WriteLine();
                stdout.WriteLine($"{"NAME".PadRight(width)}  {"A",-18}  {"B",-18}  {"MAX |A-B|",12}  {"MEAN |A-B|",12}");
                foreach (TensorDiff d in a.Has("--all") ? changed : changed.Take(40))
                {
                    stdout.WriteLine($"{d.Name.PadRight(width)}  {Describe(d.A),-18}  {Describe(d.B),-18}  {Num(d.MaxAbsDiff),12}  {Num(d.MeanAbsDiff),12}");
                }

                if (!a.Has("--all") && changed.Count > 40)
                {
                    stdout.WriteLine($"... {changed.Count - 40} more (--all shows every one)");
                }
            }
        }

        return ExitCodes.Success;
    }

    private static string Describe(TensorInfo t) => $"{t.DType.ToSafetensorsName()} {t.FormatShape()}";

    private static string Num(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.####e+0", CultureInfo.InvariantCulture);

    private static string Examples(IReadOnlyList<string> names) => names.Count == 0 ? string.Empty : " (" + string.Join(", ", names.Take(3)) + (names.Count > 3 ? ", ..." : string.Empty) + ")";

    private static void WriteNumber(Utf8JsonWriter w, string property, double v)
    {
        if (double.IsFinite(v))
        {
            w.WriteNumber(property, v);
        }
        else
        {
            w.WriteNull(property);
        }
    }
}
