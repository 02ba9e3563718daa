using System.Diagnostics;
using System.Globalization;
using SafeCkpt.Fuzz;

// SafeCkpt's in-process mutation fuzzer; see README.md beside this file.
Options? options = Options.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(Options.Usage);
    return 2;
}

return options.Replay is not null ? Fuzzer.Replay(options) : Fuzzer.Campaign(options);

namespace SafeCkpt.Fuzz
{
    /// <summary>The command line.</summary>
    internal sealed class Options
    {
        public const string Usage =
            "usage: SafeCkpt.Fuzz [--seconds N] [--runs N] [--seed N] [--corpus DIR]... [--out DIR] [--timeout N] [--strict] [--no-minimize]\n" +
            "       SafeCkpt.Fuzz --replay DIR [--timeout N] [--strict]";

        public double Seconds { get; private set; } = 60;

        public long Runs { get; private set; }

        public int Seed { get; private set; } = Environment.TickCount & 0x7FFFFFFF;

        public List<string> Corpus { get; } = [];

        public string Out { get; private set; } = Path.Combine("artifacts", "fuzz");

        public string? Replay { get; private set; }

        public double TimeoutSeconds { get; private set; } = 5;

        public bool Strict { get; private set; }

        public bool Minimize { get; private set; } = true;

        public static Options? Parse(string[] args)
        {
            var o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string? Next() => i + 1 < args.Length ? args[++i] : null;
                switch (args[i])
                {
                    case "--seconds" when double.TryParse(Next(), CultureInfo.InvariantCulture, out double s):
                        o.Seconds = s;
                        break;
                    case "--runs" when long.TryParse(Next(), CultureInfo.InvariantCulture, out long r):
                        o.Runs = r;
                        break;
                    case "--seed" when int.TryParse(Next(), CultureInfo.InvariantCulture, out int seed):
                        o.Seed = seed;
                        break;
                    case "--timeout" when double.TryParse(Next(), CultureInfo.InvariantCulture, out double t):
                        o.TimeoutSeconds = t;
                        break;
                    case "--corpus" when Next() is string dir:
                        o.Corpus.Add(dir);
                        break;
                    case "--out" when Next() is string dir:
                        o.Out = dir;
                        break;
                    case "--replay" when Next() is string dir:
                        o.Replay = dir;
                        break;
                    case "--strict":
                        o.Strict = true;
                        break;
                    case "--no-minimize":
                        o.Minimize = false;
                        break;
                    default:
                        return null;
                }
            }

            return o;
        }
    }

    /// <summary>The fuzzing campaign and the replay of saved inputs.</summary>
    internal static class Fuzzer
    {
        private const int MaxInputBytes = 64 << 20;
        private const int MaxCorpusBytes = 1 << 20;
        private const int MaxCorpus = 4000;
        private static readonly string[] FixtureFolders = ["ckpt", "safetensors", "hostile", "written", "fuzz"];
        private static readonly string[] SkippedExtensions = [".md", ".txt", ".json", ".py", ".yaml"];

        public static int Campaign(Options options)
        {
            List<Seed> corpus = LoadCorpus(options.Corpus.Count > 0 ? options.Corpus : DefaultCorpus());
            if (corpus.Count == 0)
            {
                Console.Error.WriteLine("fuzz: no seed files found; pass --corpus DIR");
                return 2;
            }

            Directory.CreateDirectory(options.Out);
            var store = new FindingStore(options.Out);
            ReportDeadRuns(options.Out, store);
            int seeds = corpus.Count;
            Console.WriteLine($"fuzz: seed {options.Seed}, {seeds} seed files ({corpus.Count(s => s.Kind == SeedKind.Zip)} zip, {corpus.Count(s => s.Kind == SeedKind.PickleStream)} pickle, {corpus.Count(s => s.Kind == SeedKind.Safetensors)} safetensors, {corpus.Count(s => s.Kind == SeedKind.Other)} other), {options.Seconds:0} s, findings to {options.Out}");

            var rng = new Random(options.Seed);
            var mutator = new Mutator(rng, corpus);
            var signatures = new HashSet<string>(StringComparer.Ordinal);
            using var target = new Target(options.Out, TimeSpan.FromSeconds(options.TimeoutSeconds));
            var clock = Stopwatch.StartNew();
            long iterations = 0;
            long opened = 0;
            TimeSpan nextProgress = TimeSpan.FromSeconds(15);

            // The seeds themselves first, unmutated.
            for (int i = 0; i < seeds; i++)
            {
                Outcome o = target.Run(corpus[i].Data);
                signatures.Add(Signature(o));
                Handle(o, corpus[i].Data, $"seed {corpus[i].Name} (unmutated)", target, store, options);
            }

            while (clock.Elapsed.TotalSeconds < options.Seconds && (options.Runs == 0 || iterations < options.Runs))
            {
                // Half the time one of the original seeds, so grown inputs do not crowd out the real files.
                Seed seed = corpus[rng.Next(rng.Next(2) == 0 ? seeds : corpus.Count)];
                byte[] input = mutator.Mutate(seed);
                if (input.Length > MaxInputBytes)
                {
                    continue;
                }

                iterations++;
                Outcome o = target.Run(input);
                opened += o.LoadError is null && !o.TimedOut ? 1 : 0;
                Handle(o, input, $"{seed.Name} + {string.Join(", ", mutator.Applied)} (iteration {iterations}, --seed {options.Seed})", target, store, options);

                // Cheap feedback without coverage: an input that behaves in a way not seen before becomes a seed.
                if (signatures.Add(Signature(o)) && input.Length <= MaxCorpusBytes && corpus.Count < MaxCorpus && !o.TimedOut)
                {
                    var s = new Seed($"{seed.Name}~{iterations}", input);
                    corpus.Add(s);
                    mutator.AddDonors(s);
                }

                if (target.Abandoned >= 2)
                {
                    Console.WriteLine("fuzz: two inputs hung and their threads are still running; stopping early");
                    break;
                }

                if (clock.Elapsed >= nextProgress)
                {
                    nextProgress += TimeSpan.FromSeconds(15);
                    Console.WriteLine($"[{clock.Elapsed.TotalSeconds,4:0}s] {iterations:N0} execs ({iterations / clock.Elapsed.TotalSeconds:0.0}/s), corpus {corpus.Count}, {Buckets(store)}");
                }
            }

            double secs = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"fuzz: {iterations:N0} iterations in {secs:0.0} s, {iterations / secs:0.0} execs/s, {100.0 * opened / Math.Max(1, iterations):0.0}% loaded fully, corpus {seeds}+{corpus.Count - seeds}, buckets: {Buckets(store)}");
            foreach ((Finding f, string file) in store.Buckets)
            {
                Console.WriteLine($"  {f.Oracle.ToString().ToUpperInvariant(),-12} {f.ExceptionType,-28} {f.Where,-48} {Path.GetFileName(file)}");
            }

            return ExitCode(store.CountByOracle, options.Strict);
        }

        public static int Replay(Options options)
        {
            string dir = options.Replay!;
            if (!Directory.Exists(dir))
            {
                Console.Error.WriteLine($"fuzz: no folder {dir}");
                return 2;
            }

            string scratch = Path.Combine(Path.GetTempPath(), $"safeckpt-fuzz-replay-{Environment.ProcessId}");
            Directory.CreateDirectory(scratch);
            var counts = Enum.GetValues<Oracle>().ToDictionary(o => o, _ => 0);
            int files = 0;
            using (var target = new Target(scratch, TimeSpan.FromSeconds(options.TimeoutSeconds)))
            {
                foreach (string file in InputFiles(dir))
                {
                    files++;
                    Outcome o = target.Run(File.ReadAllBytes(file));
                    List<Finding> findings = Oracles.Check(o);
                    string name = Path.GetFileName(file);
                    if (findings.Count == 0)
                    {
                        Console.WriteLine($"{name}: ok: {Describe(o)}");
                    }

                    foreach (Finding f in findings)
                    {
                        counts[f.Oracle]++;
                        Console.WriteLine($"{name}: {f.Oracle.ToString().ToUpperInvariant()} {f.ExceptionType} at {f.Where}: {f.Explanation}");
                    }

                    if (target.Abandoned >= 2)
                    {
                        Console.WriteLine("fuzz: two inputs hung; stopping");
                        break;
                    }
                }
            }

            Directory.Delete(scratch, recursive: true);
            Console.WriteLine($"replay: {files} files, {string.Join(", ", counts.Select(c => $"{c.Key.ToString().ToUpperInvariant()} {c.Value}"))}");
            return ExitCode(counts, options.Strict);
        }

        private static void Handle(Outcome o, byte[] input, string origin, Target target, FindingStore store, Options options)
        {
            foreach (Finding f in Oracles.Check(o))
            {
                if (!store.IsNew(f))
                {
                    continue;
                }

                Finding saved = f;
                byte[] small = input;
                if (options.Minimize && f.Oracle != Oracle.Hang)
                {
                    small = Minimizer.Shrink(input, f.Bucket, target);

                    // Describe the input that is saved: the shrunk one may stop at another message in the same bucket.
                    saved = Oracles.Check(target.Run(small)).FirstOrDefault(x => x.Bucket == f.Bucket) ?? f;
                }

                string file = store.Save(saved, small, input.Length, origin);
                Console.WriteLine($"NEW {f.Oracle.ToString().ToUpperInvariant()} {saved.ExceptionType} at {saved.Where}: {saved.Explanation} -> {Path.GetFileName(file)}");
            }
        }

        private static string Describe(Outcome o)
        {
            string scan = o.Report is null ? "no scan" : o.Report.IsUnsafe ? "unsafe" : o.Report.IsMalformed ? "malformed" : "clean";
            string load = o.LoadError is SafeCkptException e ? $"refused in {o.LoadPhase} ({e.GetType().Name} {e.Code})" : $"opened {o.Format}, {o.Tensors} tensors";
            return $"{load}; scan {scan}; {o.Elapsed.TotalMilliseconds:0} ms, {o.AllocatedBytes / 1024:N0} KiB allocated";
        }

        /// <summary>How an input behaved, coarsely: a new value makes the input a seed.</summary>
        private static string Signature(Outcome o)
        {
            string load = o.LoadError is null ? $"ok:{Math.Min(o.Tensors, 3)}" : $"{o.LoadPhase}:{o.LoadError.GetType().Name}:{(o.LoadError as SafeCkptException)?.Code}:{Oracles.Where(o.LoadError)}";
            string scan = o.Report is null ? "none" : $"{o.Report.IsUnsafe}:{(o.Report.Error is string e ? Oracles.Template(e) : "")}:{string.Join(",", o.Report.Findings.Where(f => !f.Allowed).Select(f => f.Kind).Distinct())}";
            return $"{o.Format}|{load}|{scan}|{o.TimedOut}";
        }

        private static string Buckets(FindingStore store) =>
            string.Join(", ", store.CountByOracle.Select(c => $"{c.Key.ToString().ToUpperInvariant()} {c.Value}"));

        private static int ExitCode(Dictionary<Oracle, int> counts, bool strict) =>
            counts[Oracle.Crash] + counts[Oracle.Hang] + counts[Oracle.Blowup] > 0 || (strict && counts[Oracle.Disagreement] > 0) ? 1 : 0;

        private static IEnumerable<string> InputFiles(string dir) =>
            Directory.EnumerateFiles(dir)
                .Where(f => !SkippedExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()) && !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal);

        private static List<Seed> LoadCorpus(IEnumerable<string> dirs)
        {
            var seeds = new List<Seed>();
            foreach (string dir in dirs.Where(Directory.Exists))
            {
                foreach (string file in InputFiles(dir))
                {
                    if (new FileInfo(file).Length <= 4 << 20)
                    {
                        seeds.Add(new Seed(Path.GetFileName(file), File.ReadAllBytes(file)));
                    }
                }
            }

            return seeds;
        }

        /// <summary>The committed fixtures, found from the repository root above the current folder or the program.</summary>
        private static IEnumerable<string> DefaultCorpus()
        {
            foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            {
                for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
                {
                    if (File.Exists(Path.Combine(d.FullName, "SafeCkpt.sln")))
                    {
                        string fixtures = Path.Combine(d.FullName, "tests", "SafeCkpt.Tests", "Fixtures");
                        return FixtureFolders.Select(s => Path.Combine(fixtures, s));
                    }
                }
            }

            return [];
        }

        /// <summary>An input left on disk by a run that died (a stack overflow cannot be caught) is a finding.</summary>
        private static void ReportDeadRuns(string outDir, FindingStore store)
        {
            foreach (string file in Directory.EnumerateFiles(outDir, ".current-*.bin"))
            {
                string[] parts = Path.GetFileNameWithoutExtension(file).Split('-');
                if (parts.Length >= 2 && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int pid) && IsRunning(pid))
                {
                    continue;
                }

                byte[] input = File.ReadAllBytes(file);
                var f = new Finding(Oracle.Crash, "CRASH|process died", "process-died", "unknown", "an earlier run died while this input was running (stack overflow or another fatal error)", null);
                string saved = store.Save(f, input, input.Length, $"left behind by an earlier run as {Path.GetFileName(file)}");
                Console.WriteLine($"NEW CRASH: an earlier run died on an input; saved as {Path.GetFileName(saved)}");
                File.Delete(file);
            }
        }

        private static bool IsRunning(int pid)
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                return !p.HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
    }
}
