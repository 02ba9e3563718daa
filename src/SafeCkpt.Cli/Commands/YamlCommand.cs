using SafeCkpt.Models;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt yaml MODEL [--out FILE] [--overwrite]</c>: writes the config yaml web UIs read beside a checkpoint.</summary>
internal static class YamlCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--overwrite"], ["--out"]);
        if (a.Positional.Count != 1)
        {
            throw new UsageException(a.Positional.Count == 0 ? "yaml needs a MODEL" : "yaml takes one MODEL");
        }

        using ModelFile model = ModelFile.Open(a.Positional[0]);
        ArchitectureReport report = model.DetectArchitecture();
        string written = model.WriteConfigYaml(a.Value("--out"), new SaveOptions { Overwrite = a.Has("--overwrite") });
        stdout.WriteLine($"Wrote {written} for {report.Id} ({report.Name}, {report.Confidence.ToString().ToLowerInvariant()} confidence, {InspectCommand.PredictionName(report.PredictionType)})");
        return ExitCodes.Success;
    }
}
