using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.Formats.Torch;
using SafeCkpt.Tests.TestSupport;
using static SafeCkpt.Tests.Formats.Torch.LayoutKit;

namespace SafeCkpt.Tests.Models;

public class EmbeddingFormsTests
{
    private static readonly string Fixture = TorchFixtures.PathOf("ckpt/textual_inversion.pt");

    [Fact]
    public void A_pt_embedding_to_safetensors_is_one_emb_params_tensor_holding_the_string_to_param_vector()
    {
        using var dir = new TempDir();
        string output = dir.File("ti.safetensors");
        using ModelFile m = ModelFile.Open(Fixture);
        ConversionResult r = m.Convert().SaveSafetensors(output);

        using ModelFile o = ModelFile.Open(output);
        Assert.Equal(["emb_params"], o.Tensors.Tensors.Select(t => t.Name));
        Assert.Equal([2L, 768L], o.Tensors["emb_params"].Shape);
        Assert.Equal(m.Tensors.ReadTensor("string_to_param.*"), o.Tensors.ReadTensor("emb_params"));
        Assert.Equal(["string_to_token.*"], r.Plan.Dropped.Select(d => d.Name));
        Assert.Contains(r.Plan.Notes, n => n.StartsWith("embedding: string_to_param.* written as emb_params", StringComparison.Ordinal));
    }

    [Fact]
    public void An_emb_params_safetensors_to_pt_is_A1111s_dict_named_after_the_output_file()
    {
        using var dir = new TempDir();
        string input = dir.File("EasyNegative.safetensors");
        float[] vectors = Enumerable.Range(0, 2 * 768).Select(i => i * 0.25f).ToArray();
        new CheckpointBuilder().Add("emb_params", vectors, 2, 768).SaveSafetensors(input);

        string output = dir.File("easy-negative.pt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().SaveCkpt(output);
        }

        Assert.Equal("{'string_to_token': {'*': 265}, 'string_to_param': {'*': T(string_to_param.*)}, 'name': 'easy-negative', 'step': 0, 'sd_checkpoint': None, 'sd_checkpoint_name': None}", LayoutOf(output));
        using ModelFile o = ModelFile.Open(output);
        Assert.Equal([2L, 768L], o.Tensors["string_to_param.*"].Shape);
        Assert.Equal(vectors, o.Tensors.ReadTensorAs<float>("string_to_param.*"));
        Assert.Equal("embedding", o.DetectArchitecture().Id);
    }

    [Fact]
    public void A_one_vector_emb_params_becomes_one_row_of_string_to_param()
    {
        using var dir = new TempDir();
        string input = dir.File("one.safetensors");
        new CheckpointBuilder().Add("emb_params", new float[768], 768).SaveSafetensors(input);

        string output = dir.File("one.pt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().SaveCkpt(output);
        }

        using ModelFile o = ModelFile.Open(output);
        Assert.Equal([1L, 768L], o.Tensors["string_to_param.*"].Shape);
    }

    [Fact]
    public void An_sdxl_embedding_to_pt_is_a_top_level_dict_of_clip_l_and_clip_g()
    {
        using var dir = new TempDir();
        string input = dir.File("sdxl_emb.safetensors");
        new CheckpointBuilder().Add("clip_l", new float[2 * 768], 2, 768).Add("clip_g", new float[2 * 1280], 2, 1280).SaveSafetensors(input);

        string output = dir.File("sdxl_emb.pt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().SaveCkpt(output);
        }

        string layout = LayoutOf(output);
        Assert.StartsWith("O{", layout, StringComparison.Ordinal);
        Assert.Contains("'clip_l': T(clip_l)", layout, StringComparison.Ordinal);
        Assert.Contains("'clip_g': T(clip_g)", layout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pt_embedding_survives_pt_to_safetensors_to_pt_bit_exact()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(Fixture);
        m.Convert().SaveSafetensors(dir.File("ti.safetensors"));
        using (ModelFile st = ModelFile.Open(dir.File("ti.safetensors")))
        {
            st.Convert().SaveCkpt(dir.File("ti.pt"));
        }

        using ModelFile back = ModelFile.Open(dir.File("ti.pt"));
        Assert.Equal(m.Tensors.ReadTensor("string_to_param.*"), back.Tensors.ReadTensor("string_to_param.*"));
        Assert.Equal(DType.Float32, back.Tensors["string_to_param.*"].DType);
    }

    [Fact]
    public void A_pt_embedding_to_pt_keeps_name_step_and_checkpoint_and_writes_the_parameter_dict_as_a_dict()
    {
        using var dir = new TempDir();
        string output = dir.File("ti.pt");
        using ModelFile m = ModelFile.Open(Fixture);
        ConversionResult r = m.Convert().SaveCkpt(output);

        Assert.Equal("{'string_to_token': {'*': T(string_to_token.*)}, 'string_to_param': O{'*': T(string_to_param.*)}, 'name': 'x', 'step': 10, 'sd_checkpoint': 'abc', 'sd_checkpoint_name': 'y'}", LayoutOf(output));
        Assert.Contains(r.Plan.Notes, n => n.Contains("'string_to_param' was a torch.nn.ParameterDict", StringComparison.Ordinal));
    }
}
