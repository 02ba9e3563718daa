using System.IO.Compression;
using System.Text.Json;
using SafeCkpt.Analysis;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Analysis;

/// <summary>
/// SafeCkpt's LoRA key mapping against ComfyUI's own: tests/consumers/lora_fit_check.py ran ComfyUI's loading path
/// (model_lora_keys_unet / model_lora_keys_clip, load_lora, add_patches, calculate_weight) on every fixture pair of
/// Fixtures/lora-fit (real model layouts, LoRAs named as kohya, LyCORIS, diffusers and PEFT name them) and recorded
/// which keys it did not load, which patches it dropped and which failed on the weight's shape. Every key must get
/// the same fate here. No Python needed.
/// </summary>
public class LoraFitOracleTests
{
    private static readonly Lazy<JsonDocument> Expectations = new(() => Read("expectations"));

    public static TheoryData<string, string> Pairs()
    {
        var data = new TheoryData<string, string>();
        foreach (JsonElement p in Expectations.Value.RootElement.GetProperty("pairs").EnumerateArray())
        {
            data.Add(p.GetProperty("lora").GetString()!, p.GetProperty("model").GetString()!);
        }

        return data;
    }

    internal static JsonDocument Read(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "lora-fit", name + ".json.gz");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        return JsonDocument.Parse(gz);
    }

    /// <summary>A fixture's keys and shapes (float16; the dtype plays no part in the fit).</summary>
    internal static List<TensorInfo> Tensors(string folder, string id)
    {
        using JsonDocument doc = Read(Path.Combine(folder, id));
        return doc.RootElement.GetProperty("keys").EnumerateObject()
            .Select(p => new TensorInfo(p.Name, DType.Float16, p.Value.EnumerateArray().Select(e => e.GetInt64()).ToArray())).ToList();
    }

    internal static Dictionary<string, string> Fates(LoraFit.LoraMatch match)
    {
        var fate = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (LoraModuleFit m in match.Modules)
        {
            string loaded = m.Status switch
            {
                LoraModuleStatus.ShapeMismatch => "shape-error",
                LoraModuleStatus.TargetMissing => "not-patched",
                _ => "applied",
            };
            m.Loaded.ToList().ForEach(k => fate[k] = loaded);
            m.NotLoaded.ToList().ForEach(k => fate[k] = "not-loaded");
        }

        match.Unknown.ToList().ForEach(k => fate[k] = "not-loaded");
        return fate;
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Every_lora_key_gets_the_fate_ComfyUI_gives_it(string lora, string model)
    {
        JsonElement expected = Expectations.Value.RootElement.GetProperty("pairs").EnumerateArray()
            .Single(p => p.GetProperty("lora").GetString() == lora && p.GetProperty("model").GetString() == model);
        List<TensorInfo> loraTensors = Tensors("loras", lora);
        Dictionary<string, string> fate = Fates(LoraFit.Match(loraTensors, Tensors("models", model)));

        var want = loraTensors.ToDictionary(t => t.Name, _ => "applied", StringComparer.Ordinal);
        foreach (string status in new[] { "not-loaded", "not-patched", "shape-error" })
        {
            foreach (JsonElement k in expected.GetProperty(status).EnumerateArray())
            {
                want[k.GetString()!] = status;
            }
        }

        string[] wrong = want.Where(w => fate.GetValueOrDefault(w.Key) != w.Value).Select(w => $"{w.Key}: ComfyUI {w.Value}, SafeCkpt {fate.GetValueOrDefault(w.Key) ?? "(none)"}").ToArray();
        Assert.True(wrong.Length == 0, $"{wrong.Length} of {want.Count} keys differ:\n" + string.Join("\n", wrong.Take(20)));
        Assert.Equal(expected.GetProperty("applied").GetInt32(), fate.Values.Count(v => v == "applied"));
    }
}
