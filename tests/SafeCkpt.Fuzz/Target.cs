using System.Buffers;
using SafeCkpt.Safety;

namespace SafeCkpt.Fuzz;

/// <summary>What one input did: how loading it went (and in which step it failed), how the scan went, and its cost.</summary>
internal sealed class Outcome
{
    public ModelFormat Format { get; set; }

    public int Tensors { get; set; } = -1;

    /// <summary>The exception of the load (open, read every tensor, detect, plan), if any.</summary>
    public Exception? LoadError { get; set; }

    /// <summary>The step the load failed in: open, read, detect or plan.</summary>
    public string LoadPhase { get; set; } = "";

    public ScanReport? Report { get; set; }

    public Exception? ScanError { get; set; }

    public long AllocatedBytes { get; set; }

    public string MaxAllocPhase { get; set; } = "";

    public TimeSpan Elapsed { get; set; }

    public bool TimedOut { get; set; }

    /// <summary>The step running when the time limit passed.</summary>
    public string HangPhase { get; set; } = "";

    /// <summary>True when the load failed in opening or reading (not in detection or planning).</summary>
    public bool LoadFailed => LoadError is not null && LoadPhase is "open" or "read";
}

/// <summary>
/// Runs one input through the public API as a user would: <c>ModelFile.Open</c>, every tensor read in
/// chunks, <see cref="ModelFile.DetectArchitecture"/>, two conversion plans; then
/// <see cref="CheckpointScanner.Scan(ReadOnlyMemory{byte}, string)"/>. Runs on a worker thread so the caller can
/// give up on an input that does not finish.
/// </summary>
internal sealed class Target : IDisposable
{
    private readonly string _dir;
    private readonly TimeSpan _timeout;
    private Worker _worker;
    private int _generation;

    public Target(string dir, TimeSpan timeout)
    {
        _dir = dir;
        _timeout = timeout;
        _worker = new Worker(NextPath());
    }

    /// <summary>Workers given up on because an input did not finish; each may still be running.</summary>
    public int Abandoned { get; private set; }

    public Outcome Run(byte[] input)
    {
        var job = new Job(input);
        _worker.Jobs.Add(job);
        if (job.Done.Wait(_timeout))
        {
            job.Done.Dispose();
            return job.Result!;
        }

        // The thread cannot be stopped; leave it (it is a background thread) and carry on with a new one.
        var hung = new Outcome { TimedOut = true, HangPhase = job.Phase, Elapsed = _timeout };
        _worker.Jobs.CompleteAdding();
        Abandoned++;
        _worker = new Worker(NextPath());
        return hung;
    }

    public void Dispose()
    {
        _worker.Jobs.CompleteAdding();
        _worker.Thread.Join(TimeSpan.FromSeconds(10));
        _worker.Jobs.Dispose();
        foreach (string f in Directory.EnumerateFiles(_dir, $".current-{Environment.ProcessId}-*.bin"))
        {
            TryDelete(f);
        }
    }

    private static void TryDelete(string f)
    {
        try
        {
            File.Delete(f);
        }
        catch (IOException)
        {
            // A hung worker still holds it open on some systems; it is reported at the next start.
        }
    }

    private string NextPath() => Path.Combine(_dir, $".current-{Environment.ProcessId}-{_generation++}.bin");

    private static Outcome Execute(Job job, string path, byte[] buffer)
    {
        var o = new Outcome();
        long start = GC.GetAllocatedBytesForCurrentThread();
        long mark = start;
        long maxPhase = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();

        void Step(string next)
        {
            long now = GC.GetAllocatedBytesForCurrentThread();
            if (now - mark > maxPhase)
            {
                maxPhase = now - mark;
                o.MaxAllocPhase = job.Phase;
            }

            mark = now;
            job.Phase = next;
        }

        // The input is on disk while it runs: if the process dies (stack overflow), the next run finds it.
        File.WriteAllBytes(path, job.Input);
        Step("open");
        try
        {
            using ModelFile model = ModelFile.Open(path);
            o.Format = model.Format;
            o.Tensors = model.Tensors.Count;
            Step("read");
            foreach (Tensors.TensorInfo t in model.Tensors.Tensors)
            {
                long offset = 0;
                while (offset < t.ByteLength)
                {
                    int n = model.Tensors.ReadTensorChunk(t.Name, offset, buffer);
                    if (n <= 0)
                    {
                        throw new InvalidOperationException($"ReadTensorChunk returned {n} at {offset} of {t.ByteLength} for '{t.Name}'");
                    }

                    offset += n;
                }
            }

            Step("detect");
            _ = model.DetectArchitecture().ToString();
            _ = model.Checkpoint?.Values.Count;
            Step("plan");
            _ = model.ToHalf().Plan();
            _ = model.Prune().FixClipPositionIds().ToBFloat16(Models.ModelComponent.UNet).Plan();
        }
        catch (Exception ex)
        {
            o.LoadError = ex;
            o.LoadPhase = job.Phase;
        }

        Step("scan");
        try
        {
            o.Report = CheckpointScanner.Scan(job.Input, "input");
            if (o.Format == ModelFormat.Unknown)
            {
                o.Format = o.Report.Format;
            }
        }
        catch (Exception ex)
        {
            o.ScanError = ex;
        }

        Step("done");
        o.Elapsed = clock.Elapsed;
        o.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - start;
        return o;
    }

    private sealed class Job(byte[] input)
    {
        public byte[] Input { get; } = input;

        public ManualResetEventSlim Done { get; } = new();

        public volatile string Phase = "start";

        public Outcome? Result { get; set; }
    }

    private sealed class Worker
    {
        public Worker(string path)
        {
            Thread = new Thread(() =>
            {
                byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
                foreach (Job job in Jobs.GetConsumingEnumerable())
                {
                    job.Result = Execute(job, path, buffer);
                    job.Done.Set();
                }

                TryDelete(path);
            })
            {
                IsBackground = true,
                Name = "fuzz target",
            };
            Thread.Start();
        }

        public System.Collections.Concurrent.BlockingCollection<Job> Jobs { get; } = new();

        public Thread Thread { get; }
    }
}
