using System.Text.Json;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.Formats.Gguf;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>The tool on GGUF files: inspect shows the stored types, convert writes the dequantized values.</summary>
public class GgufCommandTests
{
    private static string Sdxl => Fixtures.Path_("gguf", "sdxl.gguf");

    [Fact]
    public void Inspect_shows_the_gguf_header_and_each_tensors_stored_type()
    {
        var r = SafeCkptTool.Run("inspect", Sdxl, "--tensors");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Format:   gguf", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("GGUF:     version 3, alignment 32, 4 keys, architecture sdxl, 1 reshaped", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Stored:   F32 x1, F16 x1, Q4_K x1", r.StdOut, StringComparison.Ordinal);
        Assert.Matches(@"input_blocks\.4\.1\.proj_in\.weight\s+F32\s+Q4_K\s+\[128, 96\]", r.StdOut);
        Assert.Contains("Stable Diffusion XL base [sdxl]", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_json_has_the_gguf_object_and_stored_types()
    {
        var r = SafeCkptTool.Run("inspect", Sdxl, "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement g = doc.RootElement.GetProperty("gguf");
        Assert.Equal(3, g.GetProperty("version").GetInt32());
        Assert.Equal("sdxl", g.GetProperty("architecture").GetString());
        JsonElement t = doc.RootElement.GetProperty("tensors").EnumerateArray().Single(x => x.GetProperty("name").GetString() == "input_blocks.4.1.proj_in.weight");
        Assert.Equal("Q4_K", t.GetProperty("stored").GetString());
        Assert.True(t.GetProperty("reshaped").GetBoolean());
        Assert.Equal("F32", t.GetProperty("dtype").GetString());
    }

    [Fact]
    public void Convert_to_fp16_writes_the_dequantized_values_cast_to_fp16()
    {
        using var dir = new TempDir();
        string output = dir.File("out.safetensors");
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("gguf", "types.gguf"), output, "--dtype", "fp16");
        Assert.Equal(0, r.ExitCode);
        using ModelFile source = ModelFile.Open(Fixtures.Path_("gguf", "types.gguf"));
        using TensorStore written = SafetensorsReader.Open(output);
        Assert.Equal(13, written.Count);
        foreach (TensorInfo t in written.Tensors)
        {
            Assert.Equal(DType.Float16, t.DType);
            Assert.Equal(source.Tensors[t.Name].Shape, t.Shape);
            byte[] f32 = GgufReaderTests.Float32Bytes(source.Tensors, t.Name);
            Half[] expected = Enumerable.Range(0, f32.Length / 4).Select(i => (Half)BitConverter.ToSingle(f32, 4 * i)).ToArray();
            Assert.Equal(expected, written.ReadTensorAs<Half>(t.Name));
        }
    }

    [Fact]
    public void Convert_keeps_the_restored_torch_shape()
    {
        using var dir = new TempDir();
        string output = dir.File("sd1.safetensors");
        Assert.Equal(0, SafeCkptTool.Run("convert", Fixtures.Path_("gguf", "sd1.gguf"), output).ExitCode);
        using TensorStore written = SafetensorsReader.Open(output);
        Assert.Equal([32L, 32, 3, 3], written["input_blocks.1.0.in_layers.2.weight"].Shape);
        Assert.Equal([64L, 64, 1, 1], written["input_blocks.1.1.proj_in.weight"].Shape);
    }

    [Fact]
    public void A_folder_of_gguf_files_is_converted_file_by_file()
    {
        using var dir = new TempDir();
        string input = Directory.CreateDirectory(dir.File("in")).FullName;
        File.Copy(Fixtures.Path_("gguf", "flux.gguf"), Path.Combine(input, "flux.gguf"));
        File.Copy(Fixtures.Path_("gguf", "sd1.gguf"), Path.Combine(input, "sd1.gguf"));
        var r = SafeCkptTool.Run("convert", input, dir.File("out"));
        Assert.Equal(0, r.ExitCode);
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "flux.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "sd1.safetensors")));
    }

    [Fact]
    public void A_broken_gguf_fails_with_its_named_error()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.gguf");
        File.WriteAllBytes(path, new GgufBytes { Data = new byte[64] }.Tensor("a", 0, 4, 1).Build());
        var r = SafeCkptTool.Run("inspect", path);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("not a multiple of the alignment 32", r.StdErr, StringComparison.Ordinal);
    }
}
