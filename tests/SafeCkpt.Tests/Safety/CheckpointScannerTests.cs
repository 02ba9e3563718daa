using System.Diagnostics;
using System.Text;
using SafeCkpt.Safety;
using SafeCkpt.Tests.Formats.Torch;

namespace SafeCkpt.Tests.Safety;

public sealed class CheckpointScannerTests
{
    private static ScanReport Scan(byte[] bytes) => CheckpointScanner.Scan(bytes, "test.pt");

    [Fact]
    public void MARK_POP_then_a_tuple_is_walked_as_CPython_does_without_crashing()
    {
        // Once an ArgumentOutOfRangeException in the scanner's own walker (about 11,000 fuzz hits).
        ScanReport report = Scan(PickleWriter.Raw(0x80, 2, '(', '0', ')', 'c', "posix\nsystem\n", 'N', 0x86, '.'));
        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Contains(report.Findings, f => f.Name == "posix.system" && !f.Allowed);
    }

    [Fact]
    public void A_global_after_which_the_pickle_breaks_is_still_unsafe()
    {
        // torch.load imports (and REDUCE calls) before it reaches the broken bytes.
        ScanReport report = Scan(PickleWriter.Raw(0x80, 2, 'c', "posix\nsystem\n", 'X', 2, 0, 0, 0, "id", 0x85, 'R', 0xFF));
        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.True(report.IsMalformed);
    }

    [Fact]
    public void Invalid_UTF8_in_a_GLOBAL_name_is_malformed_not_unsafe_because_torch_fails_to_decode_it() =>
        Assert.NotEqual(ScanVerdict.Unsafe, Scan(PickleWriter.Raw('c', "mod\n", 0xF8, '\n', '.')).Verdict);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void MARK_and_memo_floods_stop_at_the_machines_limits_in_bounded_memory(int kind)
    {
        var b = new List<byte> { 0x80, 2 };
        for (int i = 0; i < 300_000; i++)
        {
            if (kind == 0)
            {
                b.Add((byte)'(');
            }
            else
            {
                b.AddRange([(byte)'N', (byte)'r', (byte)i, (byte)(i >> 8), (byte)(i >> 16), 0, (byte)'0']);
            }
        }

        b.Add((byte)'.');
        long before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        ScanReport report = Scan([.. b]);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1L << 30);
        Assert.NotEqual(ScanVerdict.Clean, report.Verdict);
    }

    [Theory]
    [InlineData("", ScanVerdict.NotAModel)]
    [InlineData("<!DOCTYPE html><html><body>Sign in</body></html>", ScanVerdict.NotAModel)]
    [InlineData("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", ScanVerdict.NotAModel)]
    [InlineData("\u0089PNG\r\n\u001a\n\0\0\0\rIHDR", ScanVerdict.NotAModel)]
    public void Files_that_are_not_models_get_their_own_verdict(string content, ScanVerdict expected)
    {
        ScanReport report = Scan(Encoding.Latin1.GetBytes(content));
        Assert.Equal(expected, report.Verdict);
        Assert.NotNull(report.Error);
    }

    [Theory]
    [InlineData("st_overlap.safetensors")]
    [InlineData("st_truncated.safetensors")]
    [InlineData("st_trailing_bytes.safetensors")]
    [InlineData("st_shape_overflow.safetensors")]
    public void Safetensors_files_get_the_readers_full_validation(string file)
    {
        ScanReport report = CheckpointScanner.Scan(TorchFixtures.PathOf("hostile/" + file));
        Assert.Equal(ScanVerdict.Malformed, report.Verdict);
    }

    [Fact]
    public void A_valid_safetensors_file_scans_clean() =>
        Assert.Equal(ScanVerdict.Clean, CheckpointScanner.Scan(TorchFixtures.PathOf("safetensors/sd_tiny.safetensors")).Verdict);

    [Fact]
    public void Sparse_tensors_are_unsupported_not_unsafe()
    {
        // torch._utils._rebuild_sparse_tensor is torch's own helper: importing it runs nothing foreign.
        byte[] p = PickleWriter.Raw(0x80, 2, 'c', "torch._utils\n_rebuild_sparse_tensor\n", ')', 'R', '.');
        ScanReport report = CheckpointScanner.Scan(TorchZipOf(p), "sparse.pt");
        Assert.Equal(ScanVerdict.Unsupported, report.Verdict);
        Assert.Equal(SafeCkptErrorCode.UnsupportedConstruct, report.ErrorCode);
    }

    private static byte[] TorchZipOf(byte[] dataPkl)
    {
        using var ms = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            var e = zip.CreateEntry("archive/data.pkl", System.IO.Compression.CompressionLevel.NoCompression);
            using Stream s = e.Open();
            s.Write(dataPkl);
        }

        return ms.ToArray();
    }
}
