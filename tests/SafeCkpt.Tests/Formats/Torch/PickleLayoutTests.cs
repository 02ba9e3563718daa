using SafeCkpt.Formats.Torch;
using SafeCkpt.Tests.TestSupport;
using static SafeCkpt.Tests.Formats.Torch.LayoutKit;

namespace SafeCkpt.Tests.Formats.Torch;

public class PickleLayoutTests
{
    [Fact]
    public void The_textual_inversion_fixture_records_its_values_its_parameter_dict_and_its_token_tensor()
    {
        using ModelFile m = ModelFile.Open(TorchFixtures.PathOf("ckpt/textual_inversion.pt"));
        PickleLayout layout = m.Tensors.Layout!;
        Assert.Equal("{'string_to_token': {'*': T(string_to_token.*)}, 'string_to_param': O{'*': T(string_to_param.*)}, 'name': 'x', 'step': 10, 'sd_checkpoint': 'abc', 'sd_checkpoint_name': 'y'}", Render(layout.Root));
        Assert.True(((DictNode)((DictNode)layout.Root).Items[1].Value).WasParameterDict);
        Assert.Same(layout.Root, layout.Home);
        Assert.Equal(0, layout.TensorsOutside);
    }

    [Fact]
    public void The_state_dict_is_the_home_and_tensors_beside_it_are_counted_outside()
    {
        using var dir = new TempDir();
        string pt = dir.File("lightning.ckpt");
        WritePt(pt, Dict(("epoch", V(3L)), ("state_dict", Dict(("w", T("w")))), ("optimizer_states", List(Dict(("exp_avg", T("opt")))))), "w", "opt");

        using ModelFile m = ModelFile.Open(pt);
        PickleLayout layout = m.Tensors.Layout!;
        Assert.Equal(["w"], m.Tensors.Tensors.Select(t => t.Name));
        Assert.Equal("{'epoch': 3, 'state_dict': {'w': T(w)}, 'optimizer_states': [{'exp_avg': <a tensor outside the state dict>}]}", Render(layout.Root));
        Assert.Equal("{'w': T(w)}", Render(layout.Home!));
        Assert.Equal(1, layout.TensorsOutside);
        Assert.Equal(["optimizer_states"], layout.OutsidePaths);
    }

    [Fact]
    public void A_container_reached_twice_is_recorded_once_and_the_second_path_as_opaque()
    {
        // {"a": [], "b": <the same list>} via BINPUT/BINGET: expanding shared containers is how 2^24 paths fit in a kilobyte.
        byte[] one = [1, 0, 0, 0];
        byte[] pickle = PickleWriter.Raw(0x80, 2, '}', '(', 'X', one, "a", ']', 'q', 0, 'X', one, "b", 'h', 0, 'u', '.');
        using var dir = new TempDir();
        string path = dir.File("shared.pt");
        File.WriteAllBytes(path, pickle);

        using ModelFile m = ModelFile.Open(path);
        Assert.Equal("{'a': [], 'b': <the same object as 'a'>}", Render(m.Tensors.Layout!.Root));
    }

    [Fact]
    public void Tuples_nested_through_the_memo_are_not_expanded()
    {
        // t(i+1) = (t(i), t(i)) for 40 levels: 2^40 paths if every reference were written out.
        var parts = new List<object> { 0x80, 2, 'K', 1 };
        for (int i = 0; i < 40; i++)
        {
            parts.AddRange(['q', i, 'h', i, 0x86]);
        }

        parts.Add('.');
        using var dir = new TempDir();
        string path = dir.File("tuple_bomb.pt");
        File.WriteAllBytes(path, PickleWriter.Raw([.. parts]));

        string layout = LayoutOf(path);
        Assert.True(layout.Length < 5_000, layout.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("<the same object as", layout, StringComparison.Ordinal);
    }

    [Fact]
    public void Typed_leaves_keep_their_types()
    {
        byte[] pickle = PickleWriter.Dump(new List<KeyValuePair<string, object?>>
        {
            new("i", 7L), new("f", 0.5), new("s", "x"), new("b", true), new("n", null), new("t", new object?[] { 1L, "y" }), new("l", new List<object?> { 2L }),
        });
        using var dir = new TempDir();
        string path = dir.File("values.pt");
        File.WriteAllBytes(path, pickle);

        Assert.Equal("{'i': 7, 'f': 0.5, 's': 'x', 'b': True, 'n': None, 't': (1, 'y'), 'l': [2]}", LayoutOf(path));
    }
}
