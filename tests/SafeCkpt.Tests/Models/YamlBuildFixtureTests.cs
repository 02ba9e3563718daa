using System.IO.Compression;
using System.Text.Json;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>
/// The generated yamls against the UNet and VAE key/shape lists tests/consumers/yaml_build_check.py recorded in
/// Fixtures/yaml-build (the published configs built under the ldm/sgm code A1111 runs, after its repair_config):
/// the UNet and VAE each yaml describes, enumerated here the way ldm/sgm's UNetModel and AutoencoderKL build
/// them, must have exactly the recorded keys and shapes; and every UNet/VAE key of the test layouts must be
/// among them with the same shape. No Python needed.
/// </summary>
public class YamlBuildFixtureTests
{
    private const string Unet = "model.diffusion_model.";
    private const string Vae = "first_stage_model.";

    public static TheoryData<string> Ids =>
        ["sd1", "sd1-inpaint", "sd1-pix2pix", "sd2", "sd2-v", "sd2-inpaint", "sd2-depth", "sd2-unclip-l", "sd2-unclip-h", "sdxl", "sdxl-v", "sdxl-refiner", "sdxl-inpaint"];

    private static global::SafeCkpt.Building.CheckpointBuilder Layout(string id) =>
        id == "sdxl-v" ? Layouts.For("sdxl").AddZeros("v_pred", DType.Float32, 0) : Layouts.For(id);

    private static Dictionary<string, long[]> Fixture(string id)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "yaml-build", id + ".json.gz");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using JsonDocument doc = JsonDocument.Parse(gz);
        Assert.Equal(id, doc.RootElement.GetProperty("arch").GetString());
        return doc.RootElement.GetProperty("keys").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetInt64()).ToArray(), StringComparer.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_yaml_describes_exactly_the_unet_and_vae_the_pinned_code_builds_for_the_published_config(string id)
    {
        Dictionary<string, long[]> expected = Fixture(id);
        Dictionary<string, object> yaml = MiniYaml.Parse(ConfigYaml.For(ArchitectureDetector.Detect(Layout(id).Build().Tensors)));
        bool sgm = MiniYaml.Get(yaml, "model.target").StartsWith("sgm.", StringComparison.Ordinal);
        var unet = (Dictionary<string, object>)MiniYaml.GetNode(yaml, sgm ? "model.params.network_config.params" : "model.params.unet_config.params");
        var vae = (Dictionary<string, object>)MiniYaml.GetNode(yaml, "model.params.first_stage_config.params");
        Dictionary<string, long[]> described = UnetKeys(unet).Concat(VaeKeys(vae)).ToDictionary(StringComparer.Ordinal);

        string[] missing = expected.Keys.Except(described.Keys).Order(StringComparer.Ordinal).ToArray();
        string[] extra = described.Keys.Except(expected.Keys).Order(StringComparer.Ordinal).ToArray();
        string[] reshaped = expected.Keys.Intersect(described.Keys).Where(k => !expected[k].SequenceEqual(described[k]))
            .Select(k => $"{k}: yaml [{string.Join(", ", described[k])}], built [{string.Join(", ", expected[k])}]").ToArray();
        Assert.True(missing.Length + extra.Length + reshaped.Length == 0, $"missing {string.Join(' ', missing.Take(10))}; extra {string.Join(' ', extra.Take(10))}; reshaped {string.Join("; ", reshaped.Take(10))}");
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Every_unet_and_vae_key_of_the_layout_is_in_the_built_model_with_its_shape(string id)
    {
        Dictionary<string, long[]> expected = Fixture(id);
        int seen = 0;
        foreach (TensorInfo t in Layout(id).Build().Tensors.Tensors.Where(i => i.Name.StartsWith(Unet, StringComparison.Ordinal) || i.Name.StartsWith(Vae, StringComparison.Ordinal)))
        {
            Assert.True(expected.TryGetValue(t.Name, out long[]? shape), $"{t.Name} is not in the built model");
            Assert.True(shape!.SequenceEqual(t.Shape), $"{t.Name}: layout {t.FormatShape()}, built [{string.Join(", ", shape!)}]");
            seen++;
        }

        Assert.True(seen > 100, $"only {seen} UNet/VAE keys in the layout");
    }

    private static long Int(Dictionary<string, object> p, string key) => long.Parse((string)p[key], System.Globalization.CultureInfo.InvariantCulture);

    private static long[] Ints(object value) => ((string)value).Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(s => long.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>A per-level value: an int for every level or a list of one per level.</summary>
    private static long Level(Dictionary<string, object> p, string key, int level) => ((string)p[key]).StartsWith('[') ? Ints(p[key])[level] : Int(p, key);

    /// <summary>
    /// The keys of ldm/sgm's openaimodel.UNetModel with spatial transformers, as both build it; or, for params with
    /// <c>hint_channels</c>, those of cldm.cldm.ControlNet (its input half and middle block, the hint encoder, a
    /// zero conv per input block and one after the middle block).
    /// </summary>
    internal static IEnumerable<KeyValuePair<string, long[]>> UnetKeys(Dictionary<string, object> p, string prefix = Unet)
    {
        Assert.Equal("true", p["use_spatial_transformer"]);
        Assert.Equal("false", p["legacy"]);
        var keys = new List<KeyValuePair<string, long[]>>();
        void K(string key, params long[] shape) => keys.Add(new(prefix + key, shape));
        long mc = Int(p, "model_channels"), te = 4 * mc;
        bool control = p.ContainsKey("hint_channels");
        long[] mult = Ints(p["channel_mult"]);
        long[] attnRes = Ints(p["attention_resolutions"]);
        long nres = Int(p, "num_res_blocks");
        bool linear = p.TryGetValue("use_linear_in_transformer", out object? lin) && (string)lin == "true";

        void Res(string at, long cin, long cout)
        {
            K(at + "in_layers.0.weight", cin); K(at + "in_layers.0.bias", cin);
            K(at + "in_layers.2.weight", cout, cin, 3, 3); K(at + "in_layers.2.bias", cout);
            K(at + "emb_layers.1.weight", cout, te); K(at + "emb_layers.1.bias", cout);
            K(at + "out_layers.0.weight", cout); K(at + "out_layers.0.bias", cout);
            K(at + "out_layers.3.weight", cout, cout, 3, 3); K(at + "out_layers.3.bias", cout);
            if (cin != cout)
            {
                K(at + "skip_connection.weight", cout, cin, 1, 1); K(at + "skip_connection.bias", cout);
            }
        }

        void Transformer(string at, long c, long depth, long context)
        {
            K(at + "norm.weight", c); K(at + "norm.bias", c);
            long[] proj = linear ? [c, c] : [c, c, 1, 1];
            K(at + "proj_in.weight", proj); K(at + "proj_in.bias", c);
            for (int b = 0; b < depth; b++)
            {
                string tb = at + $"transformer_blocks.{b}.";
                foreach ((string attn, long kv) in new[] { ("attn1", c), ("attn2", context) })
                {
                    K(tb + attn + ".to_q.weight", c, c); K(tb + attn + ".to_k.weight", c, kv); K(tb + attn + ".to_v.weight", c, kv);
                    K(tb + attn + ".to_out.0.weight", c, c); K(tb + attn + ".to_out.0.bias", c);
                }

                K(tb + "ff.net.0.proj.weight", 8 * c, c); K(tb + "ff.net.0.proj.bias", 8 * c);
                K(tb + "ff.net.2.weight", c, 4 * c); K(tb + "ff.net.2.bias", c);
                foreach (string n in new[] { "norm1", "norm2", "norm3" })
                {
                    K(tb + n + ".weight", c); K(tb + n + ".bias", c);
                }
            }

            K(at + "proj_out.weight", proj); K(at + "proj_out.bias", c);
        }

        K("time_embed.0.weight", te, mc); K("time_embed.0.bias", te); K("time_embed.2.weight", te, te); K("time_embed.2.bias", te);
        if (p.TryGetValue("num_classes", out object? classes))
        {
            Assert.Equal("sequential", classes);
            K("label_emb.0.0.weight", te, Int(p, "adm_in_channels")); K("label_emb.0.0.bias", te); K("label_emb.0.2.weight", te, te); K("label_emb.0.2.bias", te);
        }

        K("input_blocks.0.0.weight", mc, Int(p, "in_channels"), 3, 3); K("input_blocks.0.0.bias", mc);
        if (control)
        {
            long[] hint = [Int(p, "hint_channels"), 16, 16, 32, 32, 96, 96, 256, mc];
            for (int h = 0; h + 1 < hint.Length; h++)
            {
                K($"input_hint_block.{2 * h}.weight", hint[h + 1], hint[h], 3, 3); K($"input_hint_block.{2 * h}.bias", hint[h + 1]);
            }
        }

        var skips = new Stack<long>([mc]);
        long ch = mc, ds = 1;
        int i = 1;
        for (int level = 0; level < mult.Length; level++, ds *= 2)
        {
            for (int r = 0; r < nres; r++, i++)
            {
                Res($"input_blocks.{i}.0.", ch, mult[level] * mc);
                ch = mult[level] * mc;
                if (attnRes.Contains(ds))
                {
                    Transformer($"input_blocks.{i}.1.", ch, Level(p, "transformer_depth", level), Level(p, "context_dim", level));
                }

                skips.Push(ch);
            }

            if (level < mult.Length - 1)
            {
                K($"input_blocks.{i}.0.op.weight", ch, ch, 3, 3); K($"input_blocks.{i}.0.op.bias", ch);
                skips.Push(ch);
                i++;
            }
        }

        // The middle transformer: sgm takes the last level's depth (transformer_depth_middle unset); ldm the int.
        Res("middle_block.0.", ch, ch);
        Transformer("middle_block.1.", ch, Level(p, "transformer_depth", mult.Length - 1), Level(p, "context_dim", mult.Length - 1));
        Res("middle_block.2.", ch, ch);
        if (control)
        {
            int z = 0;
            foreach (long c in skips.Reverse())
            {
                K($"zero_convs.{z}.0.weight", c, c, 1, 1); K($"zero_convs.{z++}.0.bias", c);
            }

            K("middle_block_out.0.weight", ch, ch, 1, 1); K("middle_block_out.0.bias", ch);
            return keys;
        }

        int o = 0;
        for (int level = mult.Length - 1; level >= 0; level--)
        {
            ds /= 2;
            for (int r = 0; r <= nres; r++, o++)
            {
                Res($"output_blocks.{o}.0.", ch + skips.Pop(), mult[level] * mc);
                ch = mult[level] * mc;
                int next = 1;
                if (attnRes.Contains(ds))
                {
                    Transformer($"output_blocks.{o}.1.", ch, Level(p, "transformer_depth", level), Level(p, "context_dim", level));
                    next = 2;
                }

                if (level > 0 && r == nres)
                {
                    K($"output_blocks.{o}.{next}.conv.weight", ch, ch, 3, 3); K($"output_blocks.{o}.{next}.conv.bias", ch);
                }
            }
        }

        K("out.0.weight", ch); K("out.0.bias", ch);
        K("out.2.weight", Int(p, "out_channels"), ch, 3, 3); K("out.2.bias", Int(p, "out_channels"));
        return keys;
    }

    /// <summary>The keys of ldm/sgm's AutoencoderKL (Encoder, Decoder, quant convs) without attention resolutions.</summary>
    private static IEnumerable<KeyValuePair<string, long[]>> VaeKeys(Dictionary<string, object> p)
    {
        var dd = (Dictionary<string, object>)p["ddconfig"];
        Assert.Equal("[]", dd["attn_resolutions"]);
        Assert.Equal("true", dd["double_z"]);
        var keys = new List<KeyValuePair<string, long[]>>();
        void K(string key, params long[] shape) => keys.Add(new(Vae + key, shape));
        void Conv(string at, long cout, long cin, long k)
        {
            K(at + ".weight", cout, cin, k, k); K(at + ".bias", cout);
        }

        void Norm(string at, long c)
        {
            K(at + ".weight", c); K(at + ".bias", c);
        }

        void Res(string at, long cin, long cout)
        {
            Norm(at + "norm1", cin); Conv(at + "conv1", cout, cin, 3); Norm(at + "norm2", cout); Conv(at + "conv2", cout, cout, 3);
            if (cin != cout)
            {
                Conv(at + "nin_shortcut", cout, cin, 1);
            }
        }

        void Mid(string at, long c)
        {
            Res(at + "mid.block_1.", c, c);
            Norm(at + "mid.attn_1.norm", c);
            foreach (string n in new[] { "q", "k", "v", "proj_out" })
            {
                Conv(at + "mid.attn_1." + n, c, c, 1);
            }

            Res(at + "mid.block_2.", c, c);
        }

        long ch = Int(dd, "ch"), z = Int(dd, "z_channels"), nres = Int(dd, "num_res_blocks"), embed = Int(p, "embed_dim");
        long[] mult = Ints(dd["ch_mult"]);
        Conv("encoder.conv_in", ch, Int(dd, "in_channels"), 3);
        long c = ch;
        for (int l = 0; l < mult.Length; l++)
        {
            for (int b = 0; b < nres; b++)
            {
                Res($"encoder.down.{l}.block.{b}.", c, ch * mult[l]);
                c = ch * mult[l];
            }

            if (l < mult.Length - 1)
            {
                Conv($"encoder.down.{l}.downsample.conv", c, c, 3);
            }
        }

        Mid("encoder.", c);
        Norm("encoder.norm_out", c);
        Conv("encoder.conv_out", 2 * z, c, 3);
        c = ch * mult[^1];
        Conv("decoder.conv_in", c, z, 3);
        Mid("decoder.", c);
        for (int l = mult.Length - 1; l >= 0; l--)
        {
            for (int b = 0; b <= nres; b++)
            {
                Res($"decoder.up.{l}.block.{b}.", c, ch * mult[l]);
                c = ch * mult[l];
            }

            if (l > 0)
            {
                Conv($"decoder.up.{l}.upsample.conv", c, c, 3);
            }
        }

        Norm("decoder.norm_out", c);
        Conv("decoder.conv_out", Int(dd, "out_ch"), c, 3);
        Conv("quant_conv", 2 * embed, 2 * z, 1);
        Conv("post_quant_conv", z, embed, 1);
        return keys;
    }
}
