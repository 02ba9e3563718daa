using System.Text.Json;

namespace SafeCkpt.Metadata;

/// <summary>One model a merge used: its role (<c>primary</c>, ...), its SHA-256 and, from <c>sd_merge_models</c>, its name.</summary>
internal sealed record MergeInput(string Role, string Sha256, string? Name, string? LegacyHash);

/// <summary>
/// AUTOMATIC1111's checkpoint-merger record (modules/extras.py <c>run_modelmerger</c> with "add merge recipe"):
/// <c>sd_merge_recipe</c> is a JSON object (<c>type</c> "webui", <c>primary/secondary/tertiary_model_hash</c> full
/// SHA-256, <c>interp_method</c>, <c>multiplier</c>, <c>save_as_half</c>, <c>custom_name</c>, <c>config_source</c>,
/// <c>bake_in_vae</c>, <c>discard_weights</c>, <c>is_inpainting</c>, <c>is_instruct_pix2pix</c>) and
/// <c>sd_merge_models</c> maps each source's SHA-256 to <c>{name, legacy_hash, sd_merge_recipe}</c>, the sources'
/// own sources merged in. Other mergers (supermerger, ...) write the same keys with other fields; those are listed as they are.
/// </summary>
internal sealed record MergeRecipe(string? Type, string? Method, string? Multiplier, IReadOnlyList<MergeInput> Inputs, IReadOnlyList<(string Key, string Value)> Settings, int RecordedModels, int EarlierMerges)
{
    /// <summary>The recipe key.</summary>
    public const string RecipeKey = "sd_merge_recipe";

    /// <summary>The source models key.</summary>
    public const string ModelsKey = "sd_merge_models";

    private static readonly (string Key, string Role)[] Roles = [("primary_model_hash", "A"), ("secondary_model_hash", "B"), ("tertiary_model_hash", "C")];

    /// <summary>Whether a key is the merger's.</summary>
    public static bool Owns(string key) => key is RecipeKey or ModelsKey;

    /// <summary>The recipe of a file, or null when it has none (or it is not a JSON object).</summary>
    public static MergeRecipe? Parse(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(RecipeKey, out string? text) || KohyaTraining.ParseObject(text) is not { } recipe)
        {
            return null;
        }

        JsonElement? models = metadata.TryGetValue(ModelsKey, out string? m) ? KohyaTraining.ParseObject(m) : null;
        var inputs = new List<MergeInput>();
        foreach ((string key, string role) in Roles)
        {
            if (recipe.TryGetProperty(key, out JsonElement h) && h.ValueKind == JsonValueKind.String && h.GetString() is { Length: > 0 } sha)
            {
                JsonElement info = default;
                bool known = models is { } all && all.TryGetProperty(sha, out info) && info.ValueKind == JsonValueKind.Object;
                inputs.Add(new MergeInput(role, sha, known ? Text(info, "name") : null, known ? Text(info, "legacy_hash") : null));
            }
        }

        var settings = new List<(string, string)>();
        foreach (JsonProperty p in recipe.EnumerateObject())
        {
            if (p.Name is not ("type" or "interp_method" or "multiplier") && !Roles.Any(r => r.Key == p.Name) && p.Value.ValueKind != JsonValueKind.Null)
            {
                settings.Add((p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()));
            }
        }

        int recorded = 0, earlier = 0;
        if (models is { } list)
        {
            foreach (JsonProperty p in list.EnumerateObject())
            {
                recorded++;
                if (p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty(RecipeKey, out JsonElement r) && r.ValueKind is not JsonValueKind.Null)
                {
                    earlier++;
                }
            }
        }

        return new MergeRecipe(Text(recipe, "type"), Text(recipe, "interp_method"), recipe.TryGetProperty("multiplier", out JsonElement mult) ? (mult.ValueKind == JsonValueKind.String ? mult.GetString() : mult.GetRawText()) : null, inputs, settings, recorded, earlier);
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) ? v.ValueKind switch { JsonValueKind.String => v.GetString(), JsonValueKind.Null => null, _ => v.GetRawText() } : null;
}
