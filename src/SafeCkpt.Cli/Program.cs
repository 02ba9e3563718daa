namespace SafeCkpt.Cli;

/// <summary>The <c>safeckpt</c> entry point.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        Interrupt.Hook();
        return CliApp.Run(args, Terminal.ForConsole());
    }
}
