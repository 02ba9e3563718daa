namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt convert IN OUT.safetensors [--overwrite]</c>: lossless conversion, tensors byte-identical.</summary>
internal static class ConvertCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--overwrite"], []);
        if (a.Positional.Count != 2)
        {
            throw new UsageException("convert needs an input FILE and an OUT.safetensors path");
        }

        using ModelFile model = ModelFile.Open(a.Positional[0]);
        model.SaveSafetensors(a.Positional[1], new SaveOptions { Overwrite = a.Has("--overwrite") });
        stdout.WriteLine($"Wrote {a.Positional[1]}: {Format.Count(model.Tensors.Count)} tensors, {Format.Bytes(model.Tensors.TotalBytes)}.");
        return ExitCodes.Success;
    }
}
