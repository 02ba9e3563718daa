using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Hashing;
using SafeCkpt.Tests.Metadata;
using SafeCkpt.Tests.Models;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public sealed class MetaCommandTests
{
    private const string TagFrequency = "{\"10_mychar\": {\"mychar\": 12, \"1girl\": 10, \"smile\": 3, \"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1, \"e\": 1, \"f\": 1, \"g\": 1, \"h\": 1}, \"5_background\": {\"1girl\": 4, \"outdoors\": 5}}";

    private const string Recipe = "{\"type\": \"webui\", \"primary_model_hash\": \"aaaa\", \"secondary_model_hash\": \"bbbb\", \"tertiary_model_hash\": null, \"interp_method\": \"Weighted sum\", \"multiplier\": 0.3, \"save_as_half\": true, \"custom_name\": \"mix\", \"config_source\": 0, \"bake_in_vae\": \"None\", \"discard_weights\": \"\", \"is_inpainting\": false, \"is_instruct_pix2pix\": false}";

    private const string Models = "{\"aaaa\": {\"name\": \"base.safetensors\", \"legacy_hash\": \"1234abcd\", \"sd_merge_recipe\": null}, \"bbbb\": {\"name\": \"style.safetensors\", \"legacy_hash\": \"5678ef00\", \"sd_merge_recipe\": {\"type\": \"webui\"}}}";

    private static Dictionary<string, string> Kohya() => new()
    {
        ["modelspec.title"] = "My LoRA",
        ["modelspec.architecture"] = "stable-diffusion-v1/lora",
        ["ss_network_module"] = "networks.lora",
        ["ss_network_dim"] = "16",
        ["ss_tag_frequency"] = TagFrequency,
        ["ss_dataset_dirs"] = "{\"10_mychar\": {\"n_repeats\": 10, \"img_count\": 12}}",
        ["sd_merge_recipe"] = Recipe,
        ["sd_merge_models"] = Models,
        ["safeckpt.source_sha256"] = "0123",
        ["format"] = "pt",
        ["ss_training_comment"] = new string('c', 300),
        ["evil"] = "\u001b[31mred\u0007",
    };

    [Fact]
    public void Meta_shows_groups_trigger_words_tags_per_dataset_and_the_merge_recipe_with_long_values_cut()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("lora.safetensors"), Kohya());

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path);

        Assert.Equal(0, r.ExitCode);
        string o = r.StdOut;
        Assert.Contains("Header:   ", o, StringComparison.Ordinal);
        Assert.Contains("12 metadata keys", o, StringComparison.Ordinal);
        Assert.Contains("ModelSpec (modelspec.*):", o, StringComparison.Ordinal);
        Assert.Contains("  Title                  My LoRA", o, StringComparison.Ordinal);
        Assert.Contains("  Architecture           stable-diffusion-v1/lora", o, StringComparison.Ordinal);
        Assert.Contains("kohya training (ss_*):", o, StringComparison.Ordinal);
        Assert.Contains("  Trigger words: mychar, background (from ss_tag_frequency dataset folders <repeats>_<name>)", o, StringComparison.Ordinal);
        Assert.Contains("  Dataset 10_mychar: 12 images x 10 repeats, 11 distinct tags", o, StringComparison.Ordinal);
        Assert.Contains("    mychar (12), 1girl (10), smile (3), a (1),", o, StringComparison.Ordinal);
        Assert.Contains("... 1 more (--full)", o, StringComparison.Ordinal);
        Assert.Contains("    1girl (14), mychar (12), outdoors (5), smile (3)", o, StringComparison.Ordinal);
        Assert.Contains("A1111 merge (sd_merge_recipe, sd_merge_models):", o, StringComparison.Ordinal);
        Assert.Contains("  Merge:   Weighted sum, multiplier 0.3 (by webui)", o, StringComparison.Ordinal);
        Assert.Contains("  A:       base.safetensors [1234abcd], SHA-256 aaaa", o, StringComparison.Ordinal);
        Assert.Contains("  History: 2 models recorded in sd_merge_models, 1 of them merges themselves", o, StringComparison.Ordinal);
        Assert.Contains("safeckpt.*:", o, StringComparison.Ordinal);
        Assert.Contains("  safeckpt.source_sha256 0123", o, StringComparison.Ordinal);
        Assert.Contains("Other keys:", o, StringComparison.Ordinal);
        Assert.Contains("(300 chars; --full shows all)", o, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('c', 300), o, StringComparison.Ordinal);

        // A value cannot drive the terminal: control characters are shown escaped.
        Assert.Contains("\\x1b[31mred\\x07", o, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[31m", o, StringComparison.Ordinal);

        string full = SafeCkptTool.Run("meta", path, "--full").StdOut;
        Assert.Contains(new string('c', 300), full, StringComparison.Ordinal);
        Assert.Contains("h (1)", full, StringComparison.Ordinal);
    }

    [Fact]
    public void Meta_json_has_the_raw_map_and_the_parsed_parts()
    {
        using var dir = new TempDir();
        Dictionary<string, string> metadata = Kohya();
        string path = MetaKit.Make(dir.File("lora.safetensors"), metadata);

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path, "--json");

        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement root = doc.RootElement;
        Assert.Equal(metadata, root.GetProperty("metadata").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!));
        JsonElement parsed = root.GetProperty("parsed");
        Assert.Equal(["mychar", "background"], parsed.GetProperty("triggerWords").GetProperty("words").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(12, parsed.GetProperty("datasets")[0].GetProperty("images").GetInt32());
        Assert.Equal(11, parsed.GetProperty("datasets")[0].GetProperty("tags").GetArrayLength());
        Assert.Equal("1girl", parsed.GetProperty("allTags")[0].GetProperty("tag").GetString());
        Assert.Equal("style.safetensors", parsed.GetProperty("mergeRecipe").GetProperty("models")[1].GetProperty("name").GetString());
        Assert.Equal(["safeckpt.source_sha256"], parsed.GetProperty("groups").GetProperty("safeckpt").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(MetaKit.HeaderLength(path), root.GetProperty("headerBytes").GetInt64());
    }

    [Fact]
    public void Meta_of_a_pytorch_checkpoint_says_only_safetensors_carry_metadata()
    {
        using var dir = new TempDir();
        string path = dir.File("m.ckpt");
        new CheckpointBuilder().Add("w", [1f, 2f], 2).SaveCkpt(path);

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Only safetensors files carry metadata", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("safeckpt convert", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Set_unset_strip_keep_and_from_apply_in_their_documented_order()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["modelspec.title"] = "t", ["ss_a"] = "1", ["ss_b"] = "2", ["format"] = "pt" });
        File.WriteAllText(dir.File("from.json"), "{\"x\": \"from\", \"y\": \"from\", \"ss_c\": \"3\"}");

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path, "--strip", "--keep", "modelspec.*", "--keep", "ss_a", "--from", dir.File("from.json"), "--set", "y=set", "--set", "empty=", "--unset", "ss_*", "--json");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(new Dictionary<string, string> { ["modelspec.title"] = "t", ["x"] = "from", ["y"] = "set", ["empty"] = string.Empty }, MetaKit.Read(path));
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        Assert.Equal("in-place", doc.RootElement.GetProperty("mode").GetString());
        Assert.Equal(["format", "ss_a", "ss_b"], doc.RootElement.GetProperty("removed").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void From_accepts_the_output_of_meta_json_so_metadata_copies_from_one_file_to_another()
    {
        using var dir = new TempDir();
        Dictionary<string, string> metadata = Kohya();
        string a = MetaKit.Make(dir.File("a.safetensors"), metadata);
        string b = MetaKit.Make(dir.File("b.safetensors"), new Dictionary<string, string> { ["gone"] = "x" }, seed: 2);
        File.WriteAllText(dir.File("m.json"), SafeCkptTool.Run("meta", a, "--json").StdOut);

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", b, "--strip", "--from", dir.File("m.json"));

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(metadata, MetaKit.Read(b));
    }

    [Theory]
    [InlineData("--keep", "a")]
    [InlineData("--set", "novalue")]
    [InlineData("--set", "=v")]
    [InlineData("--from", "bad.json")]
    [InlineData("--from", "missing.json")]
    [InlineData("--set", "k=v", "--unset", "k")]
    [InlineData("--out", "copy.safetensors")]
    public void Bad_edits_are_usage_errors_and_leave_the_file_alone(params string[] args)
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["k"] = "v0" });
        File.WriteAllText(dir.File("bad.json"), "{\"n\": 5}");
        byte[] before = File.ReadAllBytes(path);

        SafeCkptTool.Result r = SafeCkptTool.Run(["meta", path, .. args.Select(a => a.EndsWith(".json", StringComparison.Ordinal) || a.StartsWith("copy", StringComparison.Ordinal) ? dir.File(a) : a)]);

        Assert.Equal(1, r.ExitCode);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.False(File.Exists(dir.File("copy.safetensors")));
        if (args[0] == "--from" && args[1] == "bad.json")
        {
            Assert.Contains("values must be strings", r.StdErr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Modelspec_fills_architecture_resolution_prediction_hash_and_title_keeps_what_is_set_and_set_wins()
    {
        using var dir = new TempDir();
        string path = dir.File("my-xl.safetensors");
        Layouts.For("sdxl").WithMetadata("modelspec.author", "me").SaveSafetensors(path);
        string data = ModelHashes.Compute(path).DataSha256!;

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path, "--modelspec");

        Assert.Equal(0, r.ExitCode);
        IReadOnlyDictionary<string, string> m = MetaKit.Read(path);
        Assert.Equal("1.0.1", m["modelspec.sai_model_spec"]);
        Assert.Equal("stable-diffusion-xl-v1-base", m["modelspec.architecture"]);
        Assert.Equal("https://github.com/Stability-AI/generative-models", m["modelspec.implementation"]);
        Assert.Equal("1024x1024", m["modelspec.resolution"]);
        Assert.Equal("epsilon", m["modelspec.prediction_type"]);
        Assert.Equal("0x" + data, m["modelspec.hash_sha256"]);
        Assert.Equal("my-xl", m["modelspec.title"]);
        Assert.Equal("me", m["modelspec.author"]);
        Assert.Equal(data, ModelHashes.Compute(path).DataSha256);

        // Existing values are kept; --set wins; a wrong hash is corrected.
        Assert.Equal(0, SafeCkptTool.Run("meta", path, "--set", "modelspec.resolution=896x1152", "--set", "modelspec.hash_sha256=0xdead").ExitCode);
        Assert.Equal(0, SafeCkptTool.Run("meta", path, "--modelspec", "--set", "modelspec.title=Mine").ExitCode);
        m = MetaKit.Read(path);
        Assert.Equal("896x1152", m["modelspec.resolution"]);
        Assert.Equal("Mine", m["modelspec.title"]);
        Assert.Equal("0x" + data, m["modelspec.hash_sha256"]);
    }

    [Fact]
    public void Modelspec_names_a_lora_by_its_base_with_the_lora_suffix()
    {
        using var dir = new TempDir();
        string path = dir.File("l.safetensors");
        Layouts.Lora().SaveSafetensors(path);

        Assert.Equal(0, SafeCkptTool.Run("meta", path, "--modelspec").ExitCode);

        IReadOnlyDictionary<string, string> m = MetaKit.Read(path);
        Assert.Equal("stable-diffusion-v1/lora", m["modelspec.architecture"]);
        Assert.Equal("diffusers", m["modelspec.implementation"]);
        Assert.False(m.ContainsKey("modelspec.prediction_type"));
    }

    [Fact]
    public void Out_writes_a_copy_and_never_touches_the_input()
    {
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), Kohya());
        byte[] before = File.ReadAllBytes(path);

        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path, "--strip", "--keep", "modelspec.*", "-o", dir.File("clean.safetensors"));

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("was not modified", r.StdOut, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["modelspec.architecture", "modelspec.title"], MetaKit.Read(dir.File("clean.safetensors")).Keys.Order(StringComparer.Ordinal));
        Assert.Equal(MetaKit.Data(path), MetaKit.Data(dir.File("clean.safetensors")));
        Assert.Equal(4, SafeCkptTool.Run("meta", path, "--set", "a=b", "-o", dir.File("clean.safetensors")).ExitCode);
    }

    /// <summary>
    /// A real <c>kill -9</c> of the tool paused inside the edit (at the journal, half-way through the header, before
    /// the journal's deletion): the next <c>meta</c> shows the old or the new metadata, the data section is intact,
    /// the journal is gone.
    /// </summary>
    [Theory]
    [InlineData("JournalWritten", false)]
    [InlineData("HeaderHalfWritten", false)]
    [InlineData("HeaderWritten", true)]
    public void Kill_9_mid_edit_leaves_the_old_or_the_new_file_never_a_torn_one(string step, bool expectNew)
    {
        using var dir = new TempDir();
        var old = new Dictionary<string, string> { ["modelspec.title"] = "old", ["ss_tag_frequency"] = new string('o', 6000) };
        string path = MetaKit.Make(dir.File("m.safetensors"), old);
        byte[] data = MetaKit.Data(path);
        byte[] oldFile = File.ReadAllBytes(path);
        string marker = dir.File("paused");

        using (Process p = StartPaused(step, marker, "meta", path, "--unset", "ss_tag_frequency", "--set", "modelspec.title=new"))
        {
            p.Kill();
            Assert.True(p.WaitForExit(60_000));
        }

        Assert.True(File.Exists(MetaKit.Journal(path)));
        SafeCkptTool.Result r = SafeCkptTool.Run("meta", path, "--json");

        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        Dictionary<string, string> seen = doc.RootElement.GetProperty("metadata").EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetString()!);
        Assert.Equal(expectNew ? new Dictionary<string, string> { ["modelspec.title"] = "new" } : old, seen);
        Assert.Equal(data, MetaKit.Data(path));
        Assert.False(File.Exists(MetaKit.Journal(path)));
        if (!expectNew)
        {
            Assert.Equal(oldFile, File.ReadAllBytes(path));
        }
    }

    [Fact]
    public void Sigterm_inside_the_header_write_lets_it_finish_then_exits_143()
    {
        // SIGTERM: a background job (as tests run) may ignore SIGINT, and the tool then rightly ignores it too.
        const string signal = "TERM";
        const int exitCode = 143;
        using var dir = new TempDir();
        string path = MetaKit.Make(dir.File("m.safetensors"), new Dictionary<string, string> { ["modelspec.title"] = "old", ["pad"] = new string('p', 500) });
        byte[] data = MetaKit.Data(path);

        using Process p = StartPaused("HeaderHalfWritten", dir.File("paused"), "meta", path, "--set", "modelspec.title=new");
        using (Process kill = Process.Start("kill", ["-s", signal, p.Id.ToString(CultureInfo.InvariantCulture)])!)
        {
            kill.WaitForExit();
        }

        Assert.True(p.WaitForExit(60_000));
        Assert.Equal(exitCode, p.ExitCode);
        Assert.Equal("new", MetaKit.Read(path)["modelspec.title"]);
        Assert.Equal(data, MetaKit.Data(path));
        Assert.False(File.Exists(MetaKit.Journal(path)));
    }

    /// <summary>Starts the tool with the test pause at <paramref name="step"/> and waits until it is there.</summary>
    private static Process StartPaused(string step, string marker, params string[] args)
    {
        Process p = SafeCkptTool.Start(new Dictionary<string, string> { ["SAFECKPT_TEST_META_PAUSE"] = $"{step}:{marker}" }, args);
        var clock = Stopwatch.StartNew();
        while (!File.Exists(marker) && !p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Thread.Sleep(5);
        }

        Assert.True(File.Exists(marker), $"the tool did not reach {step} (exited: {p.HasExited})");
        return p;
    }
}
