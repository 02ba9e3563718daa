using SafeCkpt.Safety;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt scan FILE [--json]</c>: every global and unusual opcode the file's pickles use, without loading it.</summary>
internal static class ScanCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--json"], []);
        if (a.Positional.Count != 1)
        {
            throw new UsageException(a.Positional.Count == 0 ? "scan needs a FILE" : "scan takes one FILE");
        }

        ScanReport report = CheckpointScanner.Scan(a.Positional[0]);
        int code = report.Verdict switch
        {
            ScanVerdict.Clean => ExitCodes.Success,
            ScanVerdict.Unsafe => ExitCodes.Unsafe,
            _ => ExitCodes.InvalidInput,
        };
        string verdict = VerdictName(report.Verdict);
        if (a.Has("--json"))
        {
            JsonOutput.Write(stdout, w =>
            {
                w.WriteString("file", report.Path);
                w.WriteString("format", InspectCommand.FormatName(report.Format));
                w.WriteString("verdict", verdict);
                if (report.Error is not null)
                {
                    w.WriteString("error", report.Error);
                }

                if (report.ErrorCode is SafeCkptErrorCode errorCode)
                {
                    w.WriteString("errorCode", errorCode.ToString());
                }

                w.WriteStartArray("findings");
                foreach (ScanFinding f in report.Findings)
                {
                    w.WriteStartObject();
                    w.WriteString("kind", f.Kind.ToString().ToLowerInvariant());
                    w.WriteString("name", f.Name);
                    w.WriteBoolean("allowed", f.Allowed);
                    w.WriteString("record", f.Record);
                    w.WriteNumber("offset", f.Offset);
                    if (f.FileOffset is long fo)
                    {
                        w.WriteNumber("fileOffset", fo);
                    }

                    w.WriteNumber("count", f.Count);
                    w.WriteString("detail", f.Detail);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
            return code;
        }

        stdout.WriteLine($"File:     {report.Path}");
        stdout.WriteLine($"Format:   {InspectCommand.FormatName(report.Format)}");
        stdout.WriteLine($"Verdict:  {verdict}");
        if (report.Error is not null)
        {
            stdout.WriteLine($"Error:    {report.Error}");
        }

        foreach (ScanFinding f in report.Findings)
        {
            string where = f.FileOffset is long fo ? $"{f.Record} byte {f.Offset} (file byte {fo})" : $"{f.Record} byte {f.Offset}";
            string times = f.Count > 1 ? $" x{f.Count}" : "";
            stdout.WriteLine($"  {(f.Allowed ? "ok    " : "UNSAFE")} {f.Kind.ToString().ToLowerInvariant(),-7} {f.Name}{times}  at {where}: {f.Detail}");
        }

        return code;
    }

    /// <summary>The verdict as printed and in JSON: clean, unsafe, unsupported, malformed, not-a-model.</summary>
    public static string VerdictName(ScanVerdict verdict) => verdict switch
    {
        ScanVerdict.NotAModel => "not-a-model",
        _ => verdict.ToString().ToLowerInvariant(),
    };
}
