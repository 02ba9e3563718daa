using SafeCkpt.Metadata;

namespace SafeCkpt.Tests.Metadata;

public sealed class KohyaTrainingTests
{
    [Theory]
    [InlineData("10_mychar", "mychar")]
    [InlineData("3_sks dog", "sks dog")]
    [InlineData("img", null)]
    [InlineData("10", null)]
    [InlineData("_x", null)]
    [InlineData("10_", null)]
    public void A_dataset_folder_identifier_is_what_follows_the_repeats_prefix(string folder, string? identifier) =>
        Assert.Equal(identifier, KohyaTraining.Identifier(folder));

    [Fact]
    public void Datasets_keep_file_order_sort_tags_by_count_then_name_and_join_the_dataset_dirs()
    {
        var m = new Dictionary<string, string>
        {
            ["ss_tag_frequency"] = "{\"5_b\": {\"z\": 2, \"a\": 2, \"big\": 9}, \"1_a\": {\"q\": \"3\"}}",
            ["ss_dataset_dirs"] = "{\"5_b\": {\"n_repeats\": 5, \"img_count\": 40}}",
        };

        IReadOnlyList<TrainingDataset> d = KohyaTraining.Datasets(m)!;

        Assert.Equal(["5_b", "1_a"], d.Select(x => x.Name));
        Assert.Equal([new TagCount("big", 9), new TagCount("a", 2), new TagCount("z", 2)], d[0].Tags);
        Assert.Equal((5L, 40L), (d[0].Repeats, d[0].Images));
        Assert.Null(d[1].Images);
        Assert.Equal([new TagCount("big", 9), new TagCount("q", 3), new TagCount("a", 2), new TagCount("z", 2)], KohyaTraining.AllTags(d));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    [InlineData("{\"a\": 5}")]
    public void A_tag_frequency_that_is_not_kohya_shaped_is_not_parsed(string text) =>
        Assert.Null(KohyaTraining.Datasets(new Dictionary<string, string> { ["ss_tag_frequency"] = text }));

    [Fact]
    public void Trigger_phrase_wins_over_folder_names_and_without_either_there_are_none()
    {
        var m = new Dictionary<string, string> { ["ss_tag_frequency"] = "{\"10_mychar\": {\"x\": 1}, \"raw\": {\"y\": 1}}" };
        IReadOnlyList<TrainingDataset>? d = KohyaTraining.Datasets(m);

        (IReadOnlyList<string> words, string rule) = KohyaTraining.TriggerWords(m, d)!.Value;
        Assert.Equal(["mychar"], words);
        Assert.Equal("ss_tag_frequency dataset folders <repeats>_<name>", rule);

        m["modelspec.trigger_phrase"] = " sks ";
        (words, rule) = KohyaTraining.TriggerWords(m, d)!.Value;
        Assert.Equal(["sks"], words);
        Assert.Equal("modelspec.trigger_phrase", rule);

        Assert.Null(KohyaTraining.TriggerWords(new Dictionary<string, string>(), KohyaTraining.Datasets(new Dictionary<string, string> { ["ss_tag_frequency"] = "{\"raw\": {\"y\": 1}}" })));
    }

    [Fact]
    public void An_a1111_recipe_names_its_inputs_from_sd_merge_models_and_counts_earlier_merges()
    {
        var m = new Dictionary<string, string>
        {
            ["sd_merge_recipe"] = "{\"type\": \"webui\", \"primary_model_hash\": \"aa\", \"secondary_model_hash\": \"bb\", \"tertiary_model_hash\": null, \"interp_method\": \"Add difference\", \"multiplier\": 1, \"save_as_half\": true}",
            ["sd_merge_models"] = "{\"aa\": {\"name\": \"a.ckpt\", \"legacy_hash\": \"11\", \"sd_merge_recipe\": {\"type\": \"webui\"}}, \"cc\": {\"name\": \"c\", \"sd_merge_recipe\": null}}",
        };

        MergeRecipe r = MergeRecipe.Parse(m)!;

        Assert.Equal(("webui", "Add difference", "1"), (r.Type, r.Method, r.Multiplier));
        Assert.Equal([new MergeInput("A", "aa", "a.ckpt", "11"), new MergeInput("B", "bb", null, null)], r.Inputs);
        Assert.Equal([("save_as_half", "true")], r.Settings);
        Assert.Equal((2, 1), (r.RecordedModels, r.EarlierMerges));
    }

    [Fact]
    public void Groups_put_known_families_first_then_namespaces_then_the_rest()
    {
        var m = new[] { "zeta", "safeckpt.b", "modelspec.title", "ss_x", "sshs_model_hash", "sd_merge_recipe", "acme.k", "format", ".dot" }.ToDictionary(k => k, _ => "v");

        IReadOnlyList<MetadataGroup> g = MetadataGroups.Of(m);

        Assert.Equal(["modelspec", "kohya", "a1111-merge", "acme", "safeckpt", "other"], g.Select(x => x.Id));
        Assert.Equal(["ss_x", "sshs_model_hash"], g[1].Keys);
        Assert.Equal([".dot", "format", "zeta"], g[^1].Keys);
    }
}
