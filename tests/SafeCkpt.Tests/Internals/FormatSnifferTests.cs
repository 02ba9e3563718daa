using SafeCkpt.Formats.Torch;
using SafeCkpt.Internals;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Internals;

public class FormatSnifferTests
{
    [Theory]
    [InlineData(ModelFormat.TorchZip, true)]
    [InlineData(ModelFormat.TorchLegacy, true)]
    [InlineData(ModelFormat.Pickle, true)]
    [InlineData(ModelFormat.Safetensors, false)]
    [InlineData(ModelFormat.Unknown, false)]
    public void Torch_formats_are_zip_legacy_and_bare_pickle(ModelFormat format, bool torch) => Assert.Equal(torch, FormatSniffer.IsTorch(format));

    [Theory]
    [InlineData("ckpt/zip_basic.ckpt", ModelFormat.TorchZip)]
    [InlineData("ckpt/legacy.ckpt", ModelFormat.TorchLegacy)]
    [InlineData("safetensors/sd_tiny.safetensors", ModelFormat.Safetensors)]
    public void Fixtures_sniff_as_their_format(string fixture, ModelFormat expected)
    {
        byte[] file = File.ReadAllBytes(Fixtures.Path_(fixture.Split('/')));
        Assert.Equal(expected, FormatSniffer.Sniff(file.AsSpan(0, Math.Min(file.Length, FormatSniffer.PrefixLength)), file.Length).Format);
    }

    [Fact]
    public void The_ckpt_reader_refuses_what_is_not_torch_and_model_file_opens_it()
    {
        byte[] safetensors = File.ReadAllBytes(Fixtures.Path_("safetensors", "sd_tiny.safetensors"));
        var ex = Assert.Throws<UnsupportedFormatException>(() => CkptReader.Open(safetensors));
        Assert.Equal(SafeCkptErrorCode.UnsupportedFormat, ex.Code);
        using ModelFile m = ModelFile.Open(Fixtures.Path_("safetensors", "sd_tiny.safetensors"));
        Assert.Equal(ModelFormat.Safetensors, m.Format);
    }
}
