using System.Diagnostics;
using System.Globalization;
using SafeCkpt.Hashing;

namespace SafeCkpt.Benchmarks;

/// <summary>
/// The ways of spreading the six hashes over threads, on a real file, interleaved round by round (wall seconds):
/// <c>dotnet run -c Release --project benchmarks/SafeCkpt.Benchmarks -- hash-schedules FILE [ROUNDS]</c>.
/// </summary>
internal static class HashSchedules
{
    public static void Run(string[] args)
    {
        string path = args[0];
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        HashPass.Schedule[] schedules = Enum.GetValues<HashPass.Schedule>();
        var times = schedules.ToDictionary(s => s, _ => new List<double>());
        string? reference = null;
        for (int round = 0; round < rounds; round++)
        {
            foreach (HashPass.Schedule s in schedules)
            {
                var clock = Stopwatch.StartNew();
                ModelHashes h = ModelHashes.Compute(path, known: default, s, progress: null, CancellationToken.None);
                times[s].Add(clock.Elapsed.TotalSeconds);
                string all = string.Join(' ', h.Sha256, h.AutoV1, h.DataSha256, h.Crc32, h.Blake3);
                if ((reference ??= all) != all)
                {
                    throw new InvalidOperationException($"{s} gave other hashes: {all}");
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1} {s,-10} {clock.Elapsed.TotalSeconds:F2} s"));
            }
        }

        foreach ((HashPass.Schedule s, List<double> t) in times)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s,-10} median {t.Order().ElementAt(t.Count / 2):F2} s  all {string.Join(' ', t.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}"));
        }
    }
}
