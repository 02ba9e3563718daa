using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SafeCkpt.Analysis;
using SafeCkpt.Tensors;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt diff A B [--tolerance X] [--all] [--json]</c>: missing and extra keys, shape and dtype changes, and
/// per-tensor maximum and mean absolute difference, streaming, with progress; a one-line verdict, and exit 0 when the
/// models are the same (within the tolerance), 1 when they differ, as <c>diff</c> and <c>cmp</c> do.
/// </summary>
internal static class DiffCommand
{
    private const int Listed = 40;

    /// <summary>What a comparison concludes.</summary>
    internal enum Verdict
    {
        /// <summary>Same keys, every tensor byte-identical (dtype, shape, bytes).</summary>
        Identical,

        /// <summary>Same keys and shapes; every value within the tolerance (0 by default: the same numbers, stored differently).</summary>
        WithinTolerance,

        /// <summary>Same keys; a shape differs, or a value by more than the tolerance.</summary>
        ValuesDiffer,

        /// <summary>A key is in one model only.</summary>
        KeysDiffer,
    }

    public static ToolCommand Create(Terminal terminal)
    {
        var a = new Argument<string>("A") { Description = "The first model file." };
        var b = new Argument<string>("B") { Description = "The second model file." };
        var tolerance = new Option<double>("--tolerance")
        {
            HelpName = "X",
            Description = "The largest |A-B| of a value that still counts as the same, e.g. 1e-3 to accept an fp16 copy of an fp32 model [default: 0].",
            CustomParser = r =>
            {
                string text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : string.Empty;
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && x >= 0 && double.IsFinite(x))
                {
                    return x;
                }

                r.AddError($"--tolerance needs a number of at least 0, such as 1e-3, not '{text}'");
                return 0;
            },
        };
        var all = new Option<bool>("--all", "-a") { Description = $"List every tensor that differs, not only the {Listed} that differ most." };
        Option<bool> json = Opt.Json("Print one JSON object instead of text: verdict, tolerance, the keys only in A and only in B, and every tensor that differs with its dtypes, shapes and max and mean |A-B|.");
        Option<bool> quiet = Opt.Quiet("Print only the verdict line (and no progress), as diff -q.");
        ToolCommand command = new ToolCommand("diff", "Compare two models tensor by tensor, streaming both: the keys only in one, shape and dtype changes, and the largest and mean absolute difference of every tensor; then a one-line verdict: identical, same keys with values within the tolerance, same keys with values that differ, or keys that differ.")
        {
            Examples =
            [
                ("safeckpt diff model-fp32.safetensors model-fp16.safetensors", "how much does fp16 change my model?"),
                ("safeckpt diff a.ckpt b.safetensors --tolerance 1e-3 -q", "the same model, give or take 0.001? (exit 0 if so)"),
                ("safeckpt diff a.safetensors b.safetensors -j", "the differences as JSON"),
            ],
            Notes = [("Exit codes:", ["0 identical or within the tolerance; 1 the models differ (or a usage error, told apart by the message on standard error); 2 a file is invalid or unreadable; 3 a file holds unsafe content."])],
        }.With(a, b, tolerance, all, json, quiet);
        command.SetRun((r, ct) => Run(terminal, r.GetValue(a)!, r.GetValue(b)!, r.GetValue(tolerance), r.GetValue(all), r.GetValue(json), r.GetValue(quiet), ct));
        return command;
    }

    /// <summary>The verdict of a report at a tolerance.</summary>
    internal static Verdict Judge(DiffReport r, double tolerance) =>
        r.OnlyInA.Count > 0 || r.OnlyInB.Count > 0 ? Verdict.KeysDiffer
        : r.Common.All(d => d.BytesEqual) ? Verdict.Identical
        : r.Common.All(d => Within(d, tolerance)) ? Verdict.WithinTolerance
        : Verdict.ValuesDiffer;

    private static bool Within(TensorDiff d, double tolerance) => d.BytesEqual || (!d.ShapeDiffers && d.MaxAbsDiff <= tolerance);

    private static int Run(Terminal terminal, string pathA, string pathB, double tolerance, bool all, bool json, bool quiet, CancellationToken cancellationToken)
    {
        using ModelFile ma = ModelFile.Open(pathA);
        using ModelFile mb = ModelFile.Open(pathB);
        long total = ma.Tensors.Tensors.Where(t => mb.Tensors.Contains(t.Name)).Sum(t => t.ByteLength);
        DiffReport r;
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, $"{Path.GetFileName(pathA)} vs {Path.GetFileName(pathB)}", total, ProgressUnit.Bytes, json || quiet))
        {
            r = ModelDiff.Compare(ma.Tensors, mb.Tensors, progress, cancellationToken);
        }

        Verdict verdict = Judge(r, tolerance);
        var changed = r.Common.Where(d => !Within(d, tolerance)).OrderByDescending(d => Order(d.MaxAbsDiff)).ToList();
        var within = r.Common.Where(d => !d.BytesEqual && Within(d, tolerance)).ToList();
        double largest = r.Common.Where(d => !d.BytesEqual).Select(d => d.MaxAbsDiff).DefaultIfEmpty(0).Max(Order);
        int code = verdict is Verdict.Identical or Verdict.WithinTolerance ? ExitCodes.Success : ExitCodes.Differ;
        string line = VerdictLine(verdict, r, changed.Count, tolerance, largest);
        if (json)
        {
            JsonOutput.Write(terminal.Out, w =>
            {
                w.WriteString("a", ma.Path);
                w.WriteString("b", mb.Path);
                w.WriteString("verdict", VerdictName(verdict));
                w.WriteString("summary", line);
                w.WriteNumber("tolerance", tolerance);
                JsonOutput.WriteStrings(w, "onlyInA", r.OnlyInA);
                JsonOutput.WriteStrings(w, "onlyInB", r.OnlyInB);
                w.WriteNumber("common", r.Common.Count);
                w.WriteNumber("identical", r.Common.Count(d => d.BytesEqual));
                w.WriteNumber("withinTolerance", within.Count);
                w.WriteStartArray("differences");
                foreach (TensorDiff d in r.Common.Where(d => !d.BytesEqual).OrderByDescending(d => Order(d.MaxAbsDiff)))
                {
                    w.WriteStartObject();
                    w.WriteString("name", d.Name);
                    w.WriteString("dtypeA", d.A.DType.ToSafetensorsName());
                    w.WriteString("dtypeB", d.B.DType.ToSafetensorsName());
                    w.WriteString("shapeA", d.A.FormatShape());
                    w.WriteString("shapeB", d.B.FormatShape());
                    WriteNumber(w, "maxAbsDiff", d.MaxAbsDiff);
                    WriteNumber(w, "meanAbsDiff", d.MeanAbsDiff);
                    w.WriteBoolean("withinTolerance", Within(d, tolerance));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
            return code;
        }

        if (!quiet)
        {
            TextWriter o = terminal.Out;
            o.WriteLine($"A: {ma.Path} ({Format.Count(ma.Tensors.Count)} tensors)");
            o.WriteLine($"B: {mb.Path} ({Format.Count(mb.Tensors.Count)} tensors)");
            o.WriteLine($"Only in A: {Format.Count(r.OnlyInA.Count)}{Examples(r.OnlyInA)}");
            o.WriteLine($"Only in B: {Format.Count(r.OnlyInB.Count)}{Examples(r.OnlyInB)}");
            string withinText = tolerance > 0 || within.Count > 0 ? $", {Format.Count(within.Count)} within tolerance" : string.Empty;
            o.WriteLine($"In both:   {Format.Count(r.Common.Count)} ({Format.Count(r.Common.Count(d => d.BytesEqual))} identical{withinText}, {Format.Count(changed.Count)} different)");
            if (changed.Count > 0)
            {
                o.WriteLine();
                Table table = Terminal.Table("NAME", "A", "B", ">MAX |A-B|", ">MEAN |A-B|");
                foreach (TensorDiff d in all ? changed : changed.Take(Listed))
                {
                    table.AddRow(new Text(d.Name), new Text(Describe(d.A)), new Text(Describe(d.B)), new Text(Num(d.MaxAbsDiff)), new Text(Num(d.MeanAbsDiff)));
                }

                terminal.Write(table);
                if (!all && changed.Count > Listed)
                {
                    o.WriteLine($"... {changed.Count - Listed} more (--all lists every one)");
                }
            }

            o.WriteLine();
        }

        terminal.WriteLine("Verdict: ", line, code == ExitCodes.Success ? Palette.Good : Palette.Warn);
        return code;
    }

    /// <summary>The verdict in JSON: identical, within-tolerance, values-differ, keys-differ.</summary>
    internal static string VerdictName(Verdict v) => v switch
    {
        Verdict.Identical => "identical",
        Verdict.WithinTolerance => "within-tolerance",
        Verdict.ValuesDiffer => "values-differ",
        _ => "keys-differ",
    };

    private static string VerdictLine(Verdict v, DiffReport r, int changed, double tolerance, double largest) => v switch
    {
        Verdict.Identical => "identical",
        Verdict.WithinTolerance => tolerance > 0
            ? $"same keys, values within tolerance {Num(tolerance)} (largest |A-B| {Num(largest)})"
            : $"same keys, same values ({Format.Count(r.Common.Count(d => !d.BytesEqual))} tensors stored differently, e.g. in another dtype)",
        Verdict.ValuesDiffer => $"same keys, values differ ({Format.Count(changed)} of {Format.Count(r.Common.Count)} tensors{(double.IsFinite(largest) ? $"; largest |A-B| {Num(largest)}" : string.Empty)})",
        _ => $"keys differ ({Format.Count(r.OnlyInA.Count)} only in A, {Format.Count(r.OnlyInB.Count)} only in B{(changed > 0 ? $"; {Format.Count(changed)} common tensors differ too" : string.Empty)})",
    };

    /// <summary>Orders differences largest first, a comparison that could not be made (NaN) before all.</summary>
    private static double Order(double v) => double.IsNaN(v) ? double.PositiveInfinity : v;

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
