using System.Numerics;
using SafeCkpt.Building;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;
using SafeCkpt.Transforms;
using static SafeCkpt.Tests.Formats.Torch.LayoutKit;

namespace SafeCkpt.Tests.Formats.Torch;

public class CkptLayoutTests
{
    [Fact]
    public void A_top_level_dict_keeps_its_non_tensor_values_through_a_ckpt_conversion()
    {
        using var dir = new TempDir();
        string input = dir.File("in.pt");
        WritePt(input, Dict(
            ("string_to_token", Dict(("*", V(265L)))),
            ("string_to_param", Dict(("*", T("string_to_param.*")))),
            ("name", V("bad-hands")),
            ("step", V(1419L)),
            ("sd_checkpoint", V(null)),
            ("ok", V(false)),
            ("big", V(BigInteger.Pow(2, 70))),
            ("neg", V(-5L)),
            ("nested", Dict(("list", List(V(1L), V("two"), Tuple(V(3L), V(null))))))), "string_to_param.*");

        string output = dir.File("out.ckpt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().SaveCkpt(output);
        }

        Assert.Equal("{'string_to_token': {'*': 265}, 'string_to_param': {'*': T(string_to_param.*)}, 'name': 'bad-hands', 'step': 1419, 'sd_checkpoint': None, 'ok': False, 'big': 1180591620717411303424, 'neg': -5, 'nested': {'list': [1, 'two', (3, None)]}}", LayoutOf(output));
        using ModelFile o = ModelFile.Open(output);
        Assert.Equal(Bytes(0, 0), o.Tensors.ReadTensor("string_to_param.*"));
    }

    [Fact]
    public void A_state_dict_wrapper_and_the_values_beside_it_are_kept_and_tensors_are_cast_in_place()
    {
        using var dir = new TempDir();
        string input = dir.File("in.ckpt");
        WritePt(input, Dict(("epoch", V(3L)), ("state_dict", Dict(("b.w", T("b.w")), ("a.w", T("a.w")))), ("global_step", V(100L))), "b.w", "a.w");

        string output = dir.File("out.ckpt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.ToHalf().SaveCkpt(output);
        }

        Assert.Equal("{'epoch': 3, 'state_dict': {'b.w': T(b.w), 'a.w': T(a.w)}, 'global_step': 100}", LayoutOf(output));
        using ModelFile o = ModelFile.Open(output);
        Assert.Equal("state_dict", o.Checkpoint!.StateDictPath);
        Assert.Equal(DType.Float16, o.Tensors["a.w"].DType);
        Assert.Equal([(Half)1, (Half)(-1)], o.Tensors.ReadTensorAs<Half>("a.w"));
    }

    [Fact]
    public void Tensors_held_in_lists_and_tuples_stay_there_in_their_order()
    {
        using var dir = new TempDir();
        string input = dir.File("in.pt");
        WritePt(input, Dict(("z", T("z")), ("weights", List(T("weights.0"), T("weights.1"))), ("pair", Tuple(V(1L), T("pair.1"))), ("a", T("a"))), "z", "weights.0", "weights.1", "pair.1", "a");

        string output = dir.File("out.pt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().SaveCkpt(output);
        }

        Assert.Equal("{'z': T(z), 'weights': [T(weights.0), T(weights.1)], 'pair': (1, T(pair.1)), 'a': T(a)}", LayoutOf(output));
        using ModelFile o = ModelFile.Open(output);
        Assert.Equal(["z", "weights.0", "weights.1", "pair.1", "a"], o.Tensors.Tensors.Select(t => t.Name));
        Assert.Equal(Bytes(2, -2), o.Tensors.ReadTensor("weights.1"));
    }

    [Fact]
    public void Dropped_tensors_leave_the_tree_and_renamed_ones_are_renamed_in_their_dict()
    {
        using var dir = new TempDir();
        string input = dir.File("in.ckpt");
        WritePt(input, Dict(("state_dict", Dict(("first_stage_model.x", T("first_stage_model.x")), ("model.diffusion_model.y", T("model.diffusion_model.y")))), ("epoch", V(1L))), "first_stage_model.x", "model.diffusion_model.y");

        string output = dir.File("out.ckpt");
        using (ModelFile m = ModelFile.Open(input))
        {
            ConversionResult r = m.Convert().Rename(n => n.StartsWith("model.", StringComparison.Ordinal) ? null : n.Replace("first_stage_model.", "vae.", StringComparison.Ordinal)).SaveCkpt(output);
            Assert.Equal(["model.diffusion_model.y"], r.Plan.Dropped.Select(d => d.Name));
        }

        Assert.Equal("{'state_dict': {'vae.x': T(vae.x)}, 'epoch': 1}", LayoutOf(output));
    }

    [Fact]
    public void A_nested_tensor_renamed_within_its_dict_stays_there_and_one_renamed_elsewhere_moves_to_the_top_dict()
    {
        using var dir = new TempDir();
        string input = dir.File("in.pt");
        WritePt(input, Dict(("p", Dict(("a", T("p.a")), ("b", T("p.b")))), ("name", V("n"))), "p.a", "p.b");

        string output = dir.File("out.pt");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().Rename(n => n == "p.a" ? "p.c" : "moved").SaveCkpt(output);
        }

        Assert.Equal("{'p': {'c': T(p.c)}, 'name': 'n', 'moved': T(moved)}", LayoutOf(output));
    }

    [Fact]
    public void Tensors_outside_the_state_dict_are_reported_and_their_entry_left_out()
    {
        using var dir = new TempDir();
        string input = dir.File("in.ckpt");
        WritePt(input, Dict(("state_dict", Dict(("w", T("w")))), ("optimizer_states", List(T("opt")))), "w", "opt");

        string output = dir.File("out.ckpt");
        using ModelFile m = ModelFile.Open(input);
        ConversionResult r = m.Convert().SaveCkpt(output);

        Assert.Equal("{'state_dict': {'w': T(w)}}", LayoutOf(output));
        Assert.Contains(r.Plan.Notes, n => n.Contains("1 tensors outside the state dict (under 'optimizer_states')", StringComparison.Ordinal));
        Assert.Contains(r.Plan.Notes, n => n.Contains("'optimizer_states' not written", StringComparison.Ordinal));
    }

    [Fact]
    public void An_ordered_dict_of_tensors_with_metadata_stays_a_top_level_ordered_dict()
    {
        // TAESD .pth and A1111's VAE-approx model.pt: torch.save(model.state_dict()), an OrderedDict with _metadata.
        using var dir = new TempDir();
        string input = dir.File("taesd_decoder.pth");
        DictNode root = Ordered(("1.weight", T("1.weight")), ("1.bias", T("1.bias")));
        root.Attributes = Dict(("_metadata", Ordered(("", Dict(("version", V(1L)))), ("1", Dict(("version", V(1L)))))));
        WritePt(input, root, "1.weight", "1.bias");

        string output = dir.File("out.pth");
        using (ModelFile m = ModelFile.Open(input))
        {
            m.Convert().SaveCkpt(output);
        }

        Assert.Equal("O{'1.weight': T(1.weight), '1.bias': T(1.bias)} + {'_metadata': O{'': {'version': 1}, '1': {'version': 1}}}", LayoutOf(output));
        using ModelFile o = ModelFile.Open(output);
        Assert.Null(o.Checkpoint!.StateDictPath);
    }

    [Fact]
    public void From_safetensors_a_full_checkpoint_gets_a_state_dict_wrapper_and_anything_else_a_top_level_ordered_dict()
    {
        using var dir = new TempDir();
        string sd = dir.File("sd.safetensors");
        new CheckpointBuilder().Add("model.diffusion_model.w", new[] { 1f }).Add("first_stage_model.w", new[] { 2f }).SaveSafetensors(sd);
        string taesd = dir.File("taesd.safetensors");
        new CheckpointBuilder().Add("1.weight", new[] { 1f }).Add("1.bias", new[] { 2f }).SaveSafetensors(taesd);

        using (ModelFile m = ModelFile.Open(sd))
        {
            m.Convert().SaveCkpt(dir.File("sd.ckpt"));
        }

        using (ModelFile m = ModelFile.Open(taesd))
        {
            m.Convert().SaveCkpt(dir.File("taesd.pth"));
        }

        Assert.StartsWith("{'state_dict': {", LayoutOf(dir.File("sd.ckpt")), StringComparison.Ordinal);
        Assert.StartsWith("O{'1.", LayoutOf(dir.File("taesd.pth")), StringComparison.Ordinal);
        Assert.Contains("'1.weight': T(1.weight)", LayoutOf(dir.File("taesd.pth")), StringComparison.Ordinal);
    }

    [Fact]
    public void Values_weights_only_cannot_load_are_left_out_each_with_a_note()
    {
        DictNode root = Dict(("w", T("w")), ("lr", V(0.5)), ("raw", V(new byte[] { 1 })), ("arr", new OpaqueValue("numpy.ndarray")), ("n", V(1L)));
        root.Items.Add((new OpaqueValue("pytorch_lightning.callbacks.ModelCheckpoint"), V("state")));
        var info = new TensorInfo("w", DType.Float32, [2]);
        var plan = new TensorPlan([new PlannedTensor("w", info, new MemoryTensorSource(Bytes(1, 2)), null, "model", "w")], new Dictionary<string, string>(), "in.pt")
        {
            SourceLayout = PickleLayout.Of(root),
        };

        LayoutNode output = CkptLayout.For(plan);

        Assert.Equal("{'w': T(w), 'n': 1}", Render(output));
        Assert.Equal(4, plan.Notes.Count);
        Assert.Contains(plan.Notes, n => n.StartsWith("layout: 'lr' not written: the float 0.5", StringComparison.Ordinal));
        Assert.Contains(plan.Notes, n => n.StartsWith("layout: 'raw' not written", StringComparison.Ordinal));
        Assert.Contains(plan.Notes, n => n.StartsWith("layout: 'arr' not written: numpy.ndarray", StringComparison.Ordinal));
        Assert.Contains(plan.Notes, n => n.Contains("its key is pytorch_lightning.callbacks.ModelCheckpoint", StringComparison.Ordinal));
    }

    [Fact]
    public void A_tensor_a_transform_adds_goes_into_the_state_dict()
    {
        var root = Dict(("state_dict", Dict(("a", T("a")))), ("epoch", V(2L)));
        var info = new TensorInfo("a", DType.Float32, [2]);
        var plan = new TensorPlan([new PlannedTensor("a", info, new MemoryTensorSource(Bytes(1, 2)), null, "model", "a")], new Dictionary<string, string>(), "in.ckpt")
        {
            SourceLayout = PickleLayout.Of(root, (DictNode)root.Items[0].Value),
        };
        plan.Tensors.Add(new PlannedTensor("added", info, new MemoryTensorSource(Bytes(3, 4)), null, "fixed"));

        Assert.Equal("{'state_dict': {'a': T(a), 'added': T(added)}, 'epoch': 2}", Render(CkptLayout.For(plan)));
    }
}
