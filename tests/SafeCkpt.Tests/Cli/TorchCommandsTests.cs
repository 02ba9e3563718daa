using System.Text.Json;
using SafeCkpt.Tests.Formats.Torch;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public class TorchCommandsTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        SafeCkptTool.Result r = SafeCkptTool.Run(args);
        return (r.ExitCode, r.StdOut, r.StdErr);
    }

    [Theory]
    [InlineData("ckpt/sd1_tiny_ema.ckpt", 0, "clean")]
    [InlineData("hostile/zip_data_pkl_os_system.ckpt", 3, "unsafe")]
    [InlineData("hostile/zip_storage_truncated.ckpt", 2, "malformed")]
    [InlineData("hostile/p0_os_system.pt", 3, "unsafe")]
    public void Scan_exits_0_clean_3_unsafe_2_malformed(string fixture, int code, string verdict)
    {
        (int c, string o, _) = Run("scan", TorchFixtures.PathOf(fixture), "--json");
        Assert.Equal(code, c);
        using JsonDocument doc = JsonDocument.Parse(o);
        Assert.Equal(verdict, doc.RootElement.GetProperty("verdict").GetString());
    }

    [Fact]
    public void Scan_text_names_the_unsafe_global_and_its_offsets()
    {
        (int c, string o, _) = Run("scan", TorchFixtures.PathOf("hostile/zip_data_pkl_os_system.ckpt"));
        Assert.Equal(3, c);
        Assert.Contains("UNSAFE global  posix.system", o, StringComparison.Ordinal);
        Assert.Contains("archive/data.pkl byte 157 (file byte 221)", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_shows_checkpoint_values_and_storage_sharing()
    {
        (int c, string o, _) = Run("inspect", TorchFixtures.PathOf("ckpt/zip_basic.ckpt"));
        Assert.Equal(0, c);
        Assert.Contains("State dict: state_dict", o, StringComparison.Ordinal);
        Assert.Contains("global_step: 123", o, StringComparison.Ordinal);
        Assert.Contains("Storages: 16", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_writes_a_safetensors_file_with_identical_tensors()
    {
        string dir = Directory.CreateTempSubdirectory("safeckpt-cli-").FullName;
        try
        {
            string output = Path.Combine(dir, "out.safetensors");
            (int c, _, string e) = Run("convert", TorchFixtures.PathOf("ckpt/legacy_views.pt"), output);
            Assert.True(c == 0, e);
            using ModelFile src = ModelFile.Open(TorchFixtures.PathOf("ckpt/legacy_views.pt"));
            using ModelFile dst = ModelFile.Open(output);
            foreach (var t in src.Tensors.Tensors)
            {
                Assert.Equal(src.Tensors.ReadTensor(t.Name), dst.Tensors.ReadTensor(t.Name));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Convert_of_an_unsafe_checkpoint_exits_3_and_leaves_no_output()
    {
        string dir = Directory.CreateTempSubdirectory("safeckpt-cli-").FullName;
        try
        {
            string output = Path.Combine(dir, "out.safetensors");
            (int c, _, string e) = Run("convert", TorchFixtures.PathOf("hostile/zip_data_pkl_os_system.ckpt"), output);
            Assert.Equal(3, c);
            Assert.Contains("posix.system", e, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFiles(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
