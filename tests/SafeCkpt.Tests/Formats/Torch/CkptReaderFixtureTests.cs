using System.Security.Cryptography;
using System.Text.Json;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Formats.Torch;

public class CkptReaderFixtureTests
{
    public static TheoryData<string> ReadableFixtures()
    {
        var data = new TheoryData<string>();
        foreach ((string file, _) in TorchFixtures.OfKind("ckpt"))
        {
            if (file != "ckpt/zip_byteorder_big.ckpt")
            {
                data.Add(file);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ReadableFixtures))]
    public void Every_tensor_of_a_real_checkpoint_reads_bit_exactly_as_the_manifest_records(string fixture)
    {
        JsonElement entry = TorchFixtures.Manifest(fixture);
        using TorchCheckpoint ckpt = CkptReader.Open(TorchFixtures.PathOf(fixture));
        int expected = 0;
        foreach (JsonProperty t in entry.GetProperty("tensors").EnumerateObject())
        {
            expected++;
            string name = t.Name.Replace('/', '.');
            Assert.True(ckpt.Tensors.TryGet(name, out TensorInfo? info), $"{fixture}: tensor '{name}' missing; have {string.Join(", ", ckpt.Tensors.Tensors.Select(x => x.Name))}");
            Assert.Equal(t.Value.GetProperty("dtype").GetString(), info.DType.ToSafetensorsName());
            Assert.Equal(t.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), info.Shape);
            string sha = Convert.ToHexString(SHA256.HashData(ckpt.Tensors.ReadTensor(name))).ToLowerInvariant();
            Assert.True(t.Value.GetProperty("sha256").GetString() == sha, $"{fixture}: tensor '{name}' bytes differ from torch's");
        }

        Assert.Equal(expected, ckpt.Tensors.Count);
    }

    [Theory]
    [InlineData("ckpt/zip_basic.ckpt", ModelFormat.TorchZip)]
    [InlineData("ckpt/legacy.ckpt", ModelFormat.TorchLegacy)]
    [InlineData("ckpt/zip_deflated.ckpt", ModelFormat.TorchZip)]
    public void Non_tensor_top_level_values_are_kept_beside_the_state_dict(string fixture, ModelFormat format)
    {
        using TorchCheckpoint ckpt = CkptReader.Open(TorchFixtures.PathOf(fixture));
        Assert.Equal(format, ckpt.Format);
        Assert.Equal("state_dict", ckpt.Info.StateDictPath);
        Assert.Equal("123", ckpt.Info.Values["global_step"]);
        Assert.Equal("4", ckpt.Info.Values["epoch"]);
        Assert.False(ckpt.Info.Values.ContainsKey("state_dict"));
    }

    [Fact]
    public void A_state_dict_nested_under_model_is_found()
    {
        using TorchCheckpoint ckpt = CkptReader.Open(TorchFixtures.PathOf("ckpt/zip_nested.ckpt"));
        Assert.Equal("model.state_dict", ckpt.Info.StateDictPath);
        Assert.Equal(["encoder.weight", "encoder.bias"], ckpt.Tensors.Tensors.Select(t => t.Name));
        Assert.Equal("7", ckpt.Info.Values["step"]);
    }

    [Fact]
    public void A_lightning_checkpoint_with_a_class_as_dict_key_and_numpy_scalars_opens_and_renders_them()
    {
        using TorchCheckpoint ckpt = CkptReader.Open(TorchFixtures.PathOf("ckpt/zip_lightning.ckpt"));
        Assert.Equal("1.4.2", ckpt.Info.Values["pytorch-lightning_version"]);
        string callbacks = ckpt.Info.Values["callbacks"];
        Assert.Contains("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", callbacks, StringComparison.Ordinal);
        Assert.Contains("'current_score': 0.5", callbacks, StringComparison.Ordinal);
    }

    [Fact]
    public void Textual_inversion_embeddings_flatten_nested_dicts_and_parameter_dicts_with_dots()
    {
        using TorchCheckpoint ckpt = CkptReader.Open(TorchFixtures.PathOf("ckpt/textual_inversion.pt"));
        Assert.Null(ckpt.Info.StateDictPath);
        Assert.Equal(["string_to_token.*", "string_to_param.*"], ckpt.Tensors.Tensors.Select(t => t.Name));
        Assert.Equal("x", ckpt.Info.Values["name"]);
    }

    [Fact]
    public void Views_sharing_one_storage_are_counted()
    {
        using TorchCheckpoint ckpt = CkptReader.Open(TorchFixtures.PathOf("ckpt/zip_views.pt"));
        JsonElement tensors = TorchFixtures.Manifest("ckpt/zip_views.pt").GetProperty("tensors");
        int sharing = tensors.EnumerateObject().GroupBy(t => t.Value.GetProperty("storage_key").GetString()).Where(g => g.Count() > 1).Sum(g => g.Count());
        Assert.Equal(sharing, ckpt.Info.TensorsSharingStorage);
        Assert.True(sharing > 0);
    }

    [Fact]
    public void A_big_endian_checkpoint_is_byte_swapped_as_torch_2_reads_it()
    {
        // zip_byteorder_big holds zip_basic's tensors with every element's bytes reversed and a 'big' byteorder record.
        using TorchCheckpoint big = CkptReader.Open(TorchFixtures.PathOf("ckpt/zip_byteorder_big.ckpt"));
        using TorchCheckpoint little = CkptReader.Open(TorchFixtures.PathOf("ckpt/zip_basic.ckpt"));
        Assert.Equal(little.Tensors.Tensors.Select(t => t.Name), big.Tensors.Tensors.Select(t => t.Name));
        foreach (var t in little.Tensors.Tensors)
        {
            Assert.Equal(little.Tensors.ReadTensor(t.Name), big.Tensors.ReadTensor(t.Name));
        }
    }

    [Fact]
    public void ModelFile_opens_checkpoints_and_exposes_their_values()
    {
        using ModelFile model = ModelFile.Open(TorchFixtures.PathOf("ckpt/sd1_tiny_ema.ckpt"));
        Assert.Equal(ModelFormat.TorchZip, model.Format);
        Assert.NotNull(model.Checkpoint);
        Assert.Equal("840000", model.Checkpoint.Values["global_step"]);
        Assert.Contains(model.Tensors.Tensors, t => t.Name == "model.diffusion_model.time_embed.0.weight");
    }

    [Fact]
    public void Converting_a_checkpoint_to_safetensors_keeps_every_tensor_byte_identical()
    {
        string dir = Directory.CreateTempSubdirectory("safeckpt-torch-").FullName;
        try
        {
            string output = Path.Combine(dir, "out.safetensors");
            using (ModelFile model = ModelFile.Open(TorchFixtures.PathOf("ckpt/zip_views.pt")))
            {
                model.SaveSafetensors(output);
            }

            using ModelFile ckpt = ModelFile.Open(TorchFixtures.PathOf("ckpt/zip_views.pt"));
            using ModelFile st = ModelFile.Open(output);
            Assert.Equal(ckpt.Tensors.Tensors.Select(t => t.Name).Order(), st.Tensors.Tensors.Select(t => t.Name).Order());
            foreach (TensorInfo t in ckpt.Tensors.Tensors)
            {
                Assert.Equal(ckpt.Tensors.ReadTensor(t.Name), st.Tensors.ReadTensor(t.Name));
                Assert.Equal(t.Shape, st.Tensors[t.Name].Shape);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
