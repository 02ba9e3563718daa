using System.Diagnostics;
using SafeCkpt.Safety;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Safety;

/// <summary>
/// Every input in Fixtures/fuzz (inputs the fuzzer in tests/SafeCkpt.Fuzz found; see the README there) goes through
/// what the fuzzer runs: open, read every tensor in chunks, detect the architecture, plan a conversion, scan.
/// Refusing an input is fine; any exception that is not a <see cref="SafeCkptException"/>, or taking more than
/// 10 seconds, is the bug coming back.
/// </summary>
public class FuzzRegressionTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    public static TheoryData<string> Inputs()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.EnumerateFiles(Fixtures.Path_("fuzz")).Where(f => !f.EndsWith(".md", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public async Task Fuzz_input_is_refused_or_read_with_only_SafeCkpt_exceptions_within_10_seconds(string name)
    {
        string path = Fixtures.Path_("fuzz", name);
        var clock = Stopwatch.StartNew();
        Exception? unexpected = await Task.Run(() => Run(path)).WaitAsync(Limit);
        Assert.True(unexpected is null, $"{name}: {unexpected}");
        Assert.True(clock.Elapsed < Limit, $"{name} took {clock.Elapsed}");
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Scan_and_open_agree_on_the_fuzz_input(string name)
    {
        // The fuzzer's disagreement oracle: clean means it reads; unsafe to the reader is unsafe to the scan.
        string path = Fixtures.Path_("fuzz", name);
        ScanReport scan = CheckpointScanner.Scan(path);
        Exception? open = Record.Exception(() =>
        {
            using ModelFile model = ModelFile.Open(path);
            foreach (SafeCkpt.Tensors.TensorInfo t in model.Tensors.Tensors)
            {
                _ = model.Tensors.ReadTensor(t.Name);
            }
        });
        if (scan.Verdict == ScanVerdict.Clean)
        {
            Assert.Null(open);
        }

        if (open is null)
        {
            Assert.Equal(ScanVerdict.Clean, scan.Verdict);
        }

        if (open is UnsafeCheckpointException)
        {
            Assert.Equal(ScanVerdict.Unsafe, scan.Verdict);
        }
    }

    /// <summary>Runs the input; returns the first exception that is not a SafeCkptException.</summary>
    private static Exception? Run(string path)
    {
        try
        {
            using ModelFile model = ModelFile.Open(path);
            var buffer = new byte[64 << 10];
            foreach (SafeCkpt.Tensors.TensorInfo t in model.Tensors.Tensors)
            {
                for (long offset = 0; offset < t.ByteLength;)
                {
                    int n = model.Tensors.ReadTensorChunk(t.Name, offset, buffer);
                    Assert.True(n > 0, $"ReadTensorChunk returned {n} at {offset} of {t.ByteLength} for '{t.Name}'");
                    offset += n;
                }
            }

            _ = model.DetectArchitecture();
            _ = model.ToHalf().Plan();
        }
        catch (SafeCkptException)
        {
            // Refused with a typed error: what a damaged or hostile file should get.
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            return ex;
        }

        try
        {
            _ = CheckpointScanner.Scan(path);
        }
        catch (SafeCkptException)
        {
        }
        catch (Exception ex)
        {
            return ex;
        }

        return null;
    }
}
