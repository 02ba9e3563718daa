using SafeCkpt.Models;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt yaml MODEL [--out FILE] [--overwrite] [--json]</c>: writes the config yaml web UIs read beside a checkpoint.</summary>
internal static class YamlCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--overwrite", "--json"], ["--out"]);
        if (a.Positional.Count != 1)
        {
            throw new UsageException(a.Positional.Count == 0 ? "yaml needs a MODEL" : "yaml takes one MODEL");
        }

        using ModelFile model = ModelFile.Open(a.Positional[0]);
        ArchitectureReport report = model.DetectArchitecture();
        string written = model.WriteConfigYaml(a.Value("--out"), new SaveOptions { Overwrite = a.Has("--overwrite") });
        if (a.Has("--json"))
        {
            JsonOutput.Write(stdout, w =>
            {
                w.WriteString("model", model.Path);
                w.WriteString("yaml", written);
                w.WriteStartObject("architecture");
                w.WriteString("id", report.Id);
                w.WriteString("name", report.Name);
                w.WriteString("confidence", report.Confidence.ToString().ToLowerInvariant());
                w.WriteString("prediction", InspectCommand.PredictionName(report.PredictionType));
                w.WriteEndObject();
            });
        }
        else
        {
            stdout.WriteLine($"Wrote {written} for {report.Id} ({report.Name}, {report.Confidence.ToString().ToLowerInvariant()} confidence, {InspectCommand.PredictionName(report.PredictionType)})");
        }

        return ExitCodes.Success;
    }
}
