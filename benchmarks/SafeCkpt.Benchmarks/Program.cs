using BenchmarkDotNet.Running;

namespace SafeCkpt.Benchmarks;

/// <summary>
/// Runs the benchmarks: <c>dotnet run -c Release --project benchmarks/SafeCkpt.Benchmarks -- --filter '*'</c>;
/// <c>-- hash-schedules FILE [ROUNDS]</c> times the hash schedules on a real file instead (<see cref="HashSchedules"/>).
/// </summary>
internal static class Program
{
    private static void Main(string[] args)
    {
        if (args.Length > 1 && args[0] == "hash-schedules")
        {
            HashSchedules.Run(args[1..]);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
