using SafeCkpt.Hashing;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt hash FILE [--json]</c>: the hashes model sites and web UIs show, in one pass.</summary>
internal static class HashCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--json"], []);
        if (a.Positional.Count != 1)
        {
            throw new UsageException(a.Positional.Count == 0 ? "hash needs a FILE" : "hash takes one FILE");
        }

        ModelHashes h = ModelHashes.Compute(a.Positional[0], Interrupt.Token);
        if (a.Has("--json"))
        {
            JsonOutput.Write(stdout, w =>
            {
                w.WriteString("file", a.Positional[0]);
                w.WriteNumber("bytes", h.Length);
                w.WriteString("sha256", h.Sha256);
                w.WriteString("autov2", h.AutoV2);
                w.WriteString("oldA1111", h.OldA1111);
                if (h.DataSha256 is not null)
                {
                    w.WriteString("dataSha256", h.DataSha256);
                    w.WriteString("autov3", h.AutoV3);
                }
            });
        }
        else
        {
            stdout.WriteLine($"File:       {a.Positional[0]} ({Format.Count(h.Length)} bytes)");
            stdout.WriteLine($"SHA-256:    {h.Sha256}");
            stdout.WriteLine($"AutoV2:     {h.AutoV2}");
            stdout.WriteLine($"Old A1111:  {h.OldA1111}");
            if (h.DataSha256 is not null)
            {
                stdout.WriteLine($"AutoV3:     {h.AutoV3}   (data SHA-256 {h.DataSha256})");
            }
        }

        return ExitCodes.Success;
    }
}
