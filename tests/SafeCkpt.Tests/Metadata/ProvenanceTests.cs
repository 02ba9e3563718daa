using System.Buffers.Binary;
using System.Security.Cryptography;
using SafeCkpt.Building;
using SafeCkpt.Metadata;
using SafeCkpt.Models;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Metadata;

/// <summary>Every safetensors file SafeCkpt writes records its source, recipe and a baked VAE under safeckpt.* keys.</summary>
public class ProvenanceTests
{
    private static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    /// <summary>The SHA-256 of everything after a safetensors file's 8 + N header bytes (AutoV3's), computed here independently.</summary>
    private static string DataSha256(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(b);
        return Sha256(b[(int)(8 + n)..]);
    }

    private static Dictionary<string, string> Safeckpt(IReadOnlyDictionary<string, string> m) =>
        m.Where(kv => kv.Key.StartsWith("safeckpt.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);

    [Fact]
    public void A_converted_checkpoint_records_its_source_hashes_and_the_recipe()
    {
        using var dir = new TempDir();
        string input = Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt");
        string output = dir.File("out.safetensors");
        using (ModelFile m = ModelFile.Open(input))
        {
            ConversionResult r = m.SelectEma(false).ToHalf().Drop(ModelComponent.Vae).SaveSafetensors(output);
            Assert.Equal(Sha256(File.ReadAllBytes(input)), r.Plan.Metadata["safeckpt.source.sha256"]);
        }

        using ModelFile written = ModelFile.Open(output);
        string sha = Sha256(File.ReadAllBytes(input));
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["safeckpt.version"] = Provenance.WriterVersion,
                ["safeckpt.source.name"] = "sd1_tiny_ema.ckpt",
                ["safeckpt.source.format"] = "pytorch-zip",
                ["safeckpt.source.sha256"] = sha,
                ["safeckpt.source.autov2"] = sha[..10],
                ["safeckpt.recipe"] = "drop the EMA weights; cast floating tensors to F16; drop Vae",
                ["safeckpt.recipe.dtype"] = "fp16",
                ["safeckpt.recipe.ema"] = "no-ema",
                ["safeckpt.recipe.dropped"] = "vae",
            },
            Safeckpt(written.Metadata));
    }

    [Fact]
    public void A_conversion_of_a_conversion_keeps_the_first_file_as_origin_and_records_the_safetensors_data_hash()
    {
        using var dir = new TempDir();
        string original = Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt");
        string first = dir.File("first.safetensors");
        string second = dir.File("second.safetensors");
        string third = dir.File("third.safetensors");
        using (ModelFile m = ModelFile.Open(original))
        {
            m.ToHalf().SaveSafetensors(first);
        }

        using (ModelFile m = ModelFile.Open(first))
        {
            m.ToBFloat16().SaveSafetensors(second);
        }

        using (ModelFile m = ModelFile.Open(second))
        {
            m.ToFloat32().SaveSafetensors(third);
        }

        using ModelFile two = ModelFile.Open(second);
        using ModelFile three = ModelFile.Open(third);
        string originSha = Sha256(File.ReadAllBytes(original));
        Assert.Equal("first.safetensors", two.Metadata["safeckpt.source.name"]);
        Assert.Equal("safetensors", two.Metadata["safeckpt.source.format"]);
        Assert.Equal(Sha256(File.ReadAllBytes(first)), two.Metadata["safeckpt.source.sha256"]);
        Assert.Equal(DataSha256(first), two.Metadata["safeckpt.source.autov3"]);
        Assert.Equal("bf16", two.Metadata["safeckpt.recipe.dtype"]);
        foreach (ModelFile later in new[] { two, three })
        {
            Assert.Equal("sd1_tiny_ema.ckpt", later.Metadata["safeckpt.origin.name"]);
            Assert.Equal(originSha, later.Metadata["safeckpt.origin.sha256"]);
            Assert.Equal(originSha[..10], later.Metadata["safeckpt.origin.autov2"]);
            Assert.False(later.Metadata.ContainsKey("safeckpt.origin.autov3"));
        }

        Assert.Equal("second.safetensors", three.Metadata["safeckpt.source.name"]);
        Assert.Equal("fp32", three.Metadata["safeckpt.recipe.dtype"]);
    }

    [Fact]
    public void Without_provenance_no_safeckpt_key_is_written_and_the_sources_are_dropped_while_other_metadata_stays()
    {
        using var dir = new TempDir();
        string first = dir.File("first.safetensors");
        string second = dir.File("second.safetensors");
        string zero = dir.File("zero.safetensors");
        new CheckpointBuilder().Add("a", new[] { 1f, 2f }).WithMetadata("ss_output_name", "mine").SaveSafetensors(zero);
        using (ModelFile m = ModelFile.Open(zero))
        {
            m.ToBFloat16().SaveSafetensors(first);
        }

        using (ModelFile m = ModelFile.Open(first))
        {
            Assert.NotEmpty(Safeckpt(m.Metadata));
            m.ToHalf().SaveSafetensors(second, new SaveOptions { Provenance = false });
        }

        using ModelFile written = ModelFile.Open(second);
        Assert.Empty(Safeckpt(written.Metadata));
        Assert.Equal("mine", written.Metadata["ss_output_name"]);
    }

    [Theory]
    [InlineData(ScaledFloat8Layout.ComfyQuant, "fp8-e4m3fn-scaled (comfy_quant layout)")]
    [InlineData(ScaledFloat8Layout.LegacyScaledFp8, "fp8-e4m3fn-scaled (scaled_fp8 layout)")]
    public void Scaled_fp8_is_named_with_its_layout_in_the_recipe(ScaledFloat8Layout layout, string expected)
    {
        using var dir = new TempDir();
        string input = TinySd.Save(dir);
        string output = dir.File("out.safetensors");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.ToScaledFloat8(Float8Format.E4M3FN, layout).SaveSafetensors(output);
        }

        using ModelFile written = ModelFile.Open(output);
        Assert.Equal(expected, written.Metadata["safeckpt.recipe.dtype"]);
    }

    [Fact]
    public void A_baked_vae_is_recorded_with_its_hashes()
    {
        using var dir = new TempDir();
        string input = TinySd.Save(dir);
        string vae = dir.File("vae.safetensors");
        new CheckpointBuilder()
            .Add("decoder.conv_in.weight", new[] { 7f, 8f }, 2)
            .Add("encoder.conv_in.weight", new[] { 5f, 6f }, 2)
            .SaveSafetensors(vae);
        string output = dir.File("out.safetensors");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.ReplaceVae(vae).SaveSafetensors(output);
        }

        using ModelFile written = ModelFile.Open(output);
        string sha = Sha256(File.ReadAllBytes(vae));
        Assert.Equal("vae.safetensors", written.Metadata["safeckpt.recipe.vae.name"]);
        Assert.Equal(sha, written.Metadata["safeckpt.recipe.vae.sha256"]);
        Assert.Equal(sha[..10], written.Metadata["safeckpt.recipe.vae.autov2"]);
        Assert.Equal(DataSha256(vae), written.Metadata["safeckpt.recipe.vae.autov3"]);
        string recipe = written.Metadata["safeckpt.recipe"];
        Assert.Contains("bake in the VAE from vae.safetensors", recipe, StringComparison.Ordinal);
        Assert.DoesNotContain(dir.Path, recipe, StringComparison.Ordinal);
        Assert.All(written.Metadata.Values, v => Assert.DoesNotContain(dir.Path, v, StringComparison.Ordinal));
    }

    [Fact]
    public void The_late_header_leaves_every_tensor_where_a_save_without_provenance_puts_it()
    {
        using var dir = new TempDir();
        string input = Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt");
        string with = dir.File("with.safetensors");
        string without = dir.File("without.safetensors");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.ToHalf().SaveSafetensors(with);
            m.ToHalf().SaveSafetensors(without, new SaveOptions { Provenance = false });
        }

        // The data sections are byte-identical: the header grew by the provenance keys only.
        Assert.Equal(DataSha256(without), DataSha256(with));
        using ModelFile a = ModelFile.Open(with);
        using ModelFile b = ModelFile.Open(without);
        Assert.Equal(b.Tensors.Select(t => t.Name), a.Tensors.Select(t => t.Name));
        Assert.All(b.Tensors, t => Assert.Equal(b.Tensors.ReadTensor(t.Name), a.Tensors.ReadTensor(t.Name)));
        Assert.DoesNotContain(a.Metadata.Values, v => v.Length > 0 && v.All(c => c == '0'));
    }

    [Fact]
    public void A_model_with_no_file_behind_it_is_written_with_its_metadata_as_it_is()
    {
        using var dir = new TempDir();
        string output = dir.File("built.safetensors");
        new CheckpointBuilder().Add("a", new[] { 1f }).WithMetadata("k", "v").Build("fixture").ToHalf().SaveSafetensors(output);
        using ModelFile m = ModelFile.Open(output);
        Assert.Equal(new Dictionary<string, string> { ["k"] = "v" }, m.Metadata);
    }

    [Fact]
    public void The_summary_names_the_source_its_hashes_the_recipe_and_the_origin()
    {
        var m = new Dictionary<string, string>
        {
            ["safeckpt.version"] = "1.2.3",
            ["safeckpt.source.name"] = "b.safetensors",
            ["safeckpt.source.format"] = "safetensors",
            ["safeckpt.source.sha256"] = new string('a', 64),
            ["safeckpt.source.autov2"] = new string('a', 10),
            ["safeckpt.recipe"] = "cast floating tensors to F16",
            ["safeckpt.origin.name"] = "a.ckpt",
            ["safeckpt.origin.autov2"] = "0123456789",
        };

        IReadOnlyList<string> lines = Provenance.Summary(m);

        Assert.Equal($"converted from b.safetensors (safetensors, AutoV2 AAAAAAAAAA, SHA256 {new string('A', 64)}) by SafeCkpt 1.2.3: cast floating tensors to F16", lines[0]);
        Assert.Equal("original: a.ckpt (AutoV2 0123456789)", lines[1]);
        Assert.Empty(Provenance.Summary(new Dictionary<string, string> { ["other"] = "x" }));
    }

    [Fact]
    public void The_readme_documents_every_provenance_key()
    {
        string readme = File.ReadAllText(Path.Combine(Fixtures.RepositoryRoot(), "README.md"));
        string section = readme[readme.IndexOf("## Provenance", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 3, StringComparison.Ordinal)];
        foreach (string key in Provenance.DocumentedKeys())
        {
            // A key is listed whole, or as a prefix row with its fields (`safeckpt.origin.name`, `.format`, ...).
            int dot = key.LastIndexOf('.');
            bool listed = section.Contains($"`{key}`", StringComparison.Ordinal)
                || (section.Contains($"`{key[..dot]}.", StringComparison.Ordinal) && section.Contains($"`{key[dot..]}`", StringComparison.Ordinal));
            Assert.True(listed, $"README's provenance section does not list {key}");
        }
    }

    [Fact]
    public void Inspect_shows_where_a_converted_file_came_from_and_convert_can_leave_it_out()
    {
        using var dir = new TempDir();
        string input = Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt");
        string output = dir.File("out.safetensors");
        string bare = dir.File("bare.safetensors");
        Assert.Equal(0, SafeCkptTool.Run("convert", input, output, "--dtype", "fp16", "-q").ExitCode);
        Assert.Equal(0, SafeCkptTool.Run("convert", input, bare, "--no-provenance", "-q").ExitCode);

        SafeCkptTool.Result shown = SafeCkptTool.Run("inspect", output);
        SafeCkptTool.Result none = SafeCkptTool.Run("inspect", bare);

        string autoV2 = Sha256(File.ReadAllBytes(input))[..10].ToUpperInvariant();
        Assert.Contains($"Provenance: converted from sd1_tiny_ema.ckpt (pytorch-zip, AutoV2 {autoV2}, SHA256 ", shown.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("Provenance:", none.StdOut, StringComparison.Ordinal);
        using ModelFile m = ModelFile.Open(bare);
        Assert.Empty(Safeckpt(m.Metadata));

        SafeCkptTool.Result hashed = SafeCkptTool.Run("hash", output, "--no-cache");
        Assert.Contains($"From:    converted from sd1_tiny_ema.ckpt (pytorch-zip, AutoV2 {autoV2}, SHA256 ", hashed.StdOut, StringComparison.Ordinal);
        using System.Text.Json.JsonDocument json = System.Text.Json.JsonDocument.Parse(SafeCkptTool.Run("hash", output, "--no-cache", "--json").StdOut);
        Assert.StartsWith("converted from sd1_tiny_ema.ckpt", json.RootElement.GetProperty("provenance")[0].GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("From:", SafeCkptTool.Run("hash", bare, "--no-cache").StdOut, StringComparison.Ordinal);
    }
}
