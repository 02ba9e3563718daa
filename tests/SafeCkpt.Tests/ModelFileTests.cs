using System.Text;
using SafeCkpt.Building;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests;

/// <summary>The format is told from the first bytes, and anything else is named in words a person understands.</summary>
public class ModelFileTests
{
    private static UnsupportedFormatException Refuses(byte[] content, string name, SafeCkptErrorCode code = SafeCkptErrorCode.UnsupportedFormat)
    {
        using var dir = new TempDir();
        string path = dir.File(name);
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<UnsupportedFormatException>(() => ModelFile.Open(path));
        Assert.Equal(code, ex.Code);
        Assert.StartsWith(path + ": ", ex.Message, StringComparison.Ordinal);
        return ex;
    }

    [Fact]
    public void A_safetensors_file_is_recognised_whatever_its_extension()
    {
        using var dir = new TempDir();
        string path = dir.File("model.ckpt");
        new CheckpointBuilder().Add("w", new[] { 1f }).WithMetadata("format", "pt").SaveSafetensors(path);
        using ModelFile m = ModelFile.Open(path);
        Assert.Equal(ModelFormat.Safetensors, m.Format);
        Assert.Equal(ModelFormat.Safetensors, ModelFile.DetectFormat(path));
        Assert.Equal("pt", m.Metadata["format"]);
        Assert.Single(m.Tensors);
    }

    [Theory]
    [InlineData(0x280)]
    [InlineData(0x380)]
    [InlineData(0x480)]
    [InlineData(0x580)]
    public void A_safetensors_header_length_whose_first_byte_looks_like_a_pickle_protocol_is_still_safetensors(int headerLength)
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        string json = "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        File.WriteAllBytes(path, StBytes.Make(json.PadRight(headerLength), 1));
        Assert.Equal(0x80, File.ReadAllBytes(path)[0]);
        using ModelFile m = ModelFile.Open(path);
        Assert.Equal(ModelFormat.Safetensors, m.Format);
        Assert.Equal(1, m.Tensors["w"].ByteLength);
    }

    [Fact]
    public void An_empty_file_is_called_empty() =>
        Assert.Contains("empty", Refuses([], "model.safetensors", SafeCkptErrorCode.EmptyFile).Message, StringComparison.Ordinal);

    [Fact]
    public void An_html_error_page_saved_as_a_model_is_called_an_html_page() =>
        Assert.Contains("HTML page", Refuses(Encoding.UTF8.GetBytes("\n<!DOCTYPE html><html><body>Sign in</body></html>"), "model.safetensors").Message, StringComparison.Ordinal);

    [Fact]
    public void A_git_lfs_pointer_is_called_a_pointer_with_the_fix() =>
        Assert.Contains("git lfs pull", Refuses(Encoding.UTF8.GetBytes("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"), "model.ckpt").Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(new byte[] { 0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4 }, "7-Zip")]
    [InlineData(new byte[] { 0x1F, 0x8B, 8, 0 }, "gzip")]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'1', (byte)'}' }, "JSON text")]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, "first bytes: 0102030405060708090a")]
    public void Other_kinds_of_file_are_named(byte[] content, string expected) =>
        Assert.Contains(expected, Refuses(content, "x.safetensors").Message, StringComparison.Ordinal);

    [Fact]
    public void A_missing_file_is_an_input_read_error_naming_it()
    {
        var ex = Assert.Throws<InputReadException>(() => ModelFile.Open("/no/such/model.safetensors"));
        Assert.Equal(SafeCkptErrorCode.FileNotFound, ex.Code);
        Assert.Contains("/no/such/model.safetensors", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_is_an_input_read_error()
    {
        using var dir = new TempDir();
        Assert.Equal(SafeCkptErrorCode.FileUnreadable, Assert.Throws<InputReadException>(() => ModelFile.Open(dir.Path)).Code);
    }

    [Fact]
    public void Pickle_and_zip_headers_are_detected_as_pytorch_formats()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("a"), [(byte)'P', (byte)'K', 3, 4, 0, 0]);
        File.WriteAllBytes(dir.File("b"), [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
        File.WriteAllBytes(dir.File("c"), [0x80, 0x04, 0x4e, 0x2e]);
        Assert.Equal(ModelFormat.TorchZip, ModelFile.DetectFormat(dir.File("a")));
        Assert.Equal(ModelFormat.TorchLegacy, ModelFile.DetectFormat(dir.File("b")));
        Assert.Equal(ModelFormat.Pickle, ModelFile.DetectFormat(dir.File("c")));
    }

    [Theory]
    [InlineData("ckpt/sd1_tiny_ema.ckpt", ModelFormat.TorchZip)]
    [InlineData("ckpt/legacy.ckpt", ModelFormat.TorchLegacy)]
    public void A_model_opened_from_memory_reads_as_the_same_file_opened_from_disk(string fixture, ModelFormat format)
    {
        string path = SafeCkpt.Tests.Formats.Torch.TorchFixtures.PathOf(fixture);
        using ModelFile disk = ModelFile.Open(path);
        using ModelFile memory = ModelFile.Open(File.ReadAllBytes(path), "in-memory");
        Assert.Equal(format, memory.Format);
        Assert.Equal("in-memory", memory.Path);
        Assert.Equal(disk.Tensors.Select(t => t.ToString()), memory.Tensors.Select(t => t.ToString()));
        foreach (var t in disk.Tensors)
        {
            Assert.Equal(disk.Tensors.ReadTensor(t.Name), memory.Tensors.ReadTensor(t.Name));
        }
    }

    [Fact]
    public void A_model_from_memory_converts_through_the_same_road_and_CastTo_writes_the_dtype_asked_for()
    {
        using var dir = new TempDir();
        byte[] bytes = File.ReadAllBytes(TinySd.Save(dir));
        using ModelFile m = ModelFile.Open(bytes, "tiny");
        ConversionResult r = m.CastTo(SafeCkpt.Tensors.DType.Float64, SafeCkpt.Models.ModelComponent.Vae).SaveSafetensors(dir.File("out.safetensors"));
        Assert.Equal([], r.Plan.Inputs);
        using ModelFile o = ModelFile.Open(dir.File("out.safetensors"));
        Assert.Equal(SafeCkpt.Tensors.DType.Float64, o.Tensors["first_stage_model.decoder.conv_in.weight"].DType);
        Assert.Equal(SafeCkpt.Tensors.DType.Float32, o.Tensors["model.diffusion_model.out.2.bias"].DType);
        Assert.Equal([0.1f, 0.2f], o.Tensors.ReadTensorAs<double>("first_stage_model.decoder.conv_in.weight").Select(v => (float)v));
        Assert.Throws<ArgumentException>(() => m.CastTo(SafeCkpt.Tensors.DType.Int8));
    }

    [Fact]
    public void A_store_enumerates_its_tensors_in_file_order()
    {
        using ModelFile m = TinySd.Builder().Build();
        Assert.Equal(m.Tensors.Tensors, m.Tensors.ToList());
        Assert.Equal(m.Tensors.Count, m.Tensors.Select(t => t.Name).Distinct().Count());
    }
}
