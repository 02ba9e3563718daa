using SafeCkpt.Metadata;
using SafeCkpt.Models;
using SafeCkpt.Tests.Models;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Metadata;

public sealed class ModelSpecFieldsTests
{
    [Theory]
    [InlineData("sd1", null, "stable-diffusion-v1")]
    [InlineData("sd2-v", null, "stable-diffusion-v2-768-v")]
    [InlineData("sdxl-refiner", null, "stable-diffusion-xl-v1-refiner")]
    [InlineData("flux-dev", null, "flux-1-dev")]
    [InlineData("lora", "sdxl", "stable-diffusion-xl-v1-base/lora")]
    [InlineData("embedding", "sd1", "stable-diffusion-v1/textual-inversion")]
    [InlineData("vae", "sdxl", "stable-diffusion-xl-v1-base/vae")]
    [InlineData("controlnet", "sd1", "stable-diffusion-v1/controlnet")]
    [InlineData("control-lora", "sdxl", "stable-diffusion-xl-v1-base/control-lora")]
    [InlineData("unet", "sdxl", "stable-diffusion-xl-v1-base")]
    [InlineData("text-encoder", "sd1", null)]
    [InlineData("lora", null, null)]
    [InlineData("sd1-pix2pix", null, null)]
    public void The_catalog_maps_detected_ids_to_modelspec_ids_with_kind_suffixes(string id, string? baseId, string? expected) =>
        Assert.Equal(expected, ArchitectureCatalog.ModelSpecIdOf(id, baseId));

    [Fact]
    public void Every_suffix_written_reads_back_as_its_kind()
    {
        foreach (string kind in new[] { "lora", "embedding", "vae", "controlnet", "control-lora", "t2i-adapter", "ip-adapter" })
        {
            string spec = ArchitectureCatalog.ModelSpecIdOf(kind, "sdxl")!;
            Assert.Equal(kind, ArchitectureCatalog.ModelSpecKinds[spec.Split('/')[1]]);
            Assert.Equal("sdxl", ArchitectureCatalog.ModelSpec[spec.Split('/')[0]]);
        }
    }

    [Theory]
    [InlineData("sd2-v", "stable-diffusion-v2-768-v", "768x768", "v", "https://github.com/Stability-AI/generative-models")]
    [InlineData("flux-dev", "flux-1-dev", "1024x1024", null, "https://github.com/black-forest-labs/flux")]
    [InlineData("sd1", "stable-diffusion-v1", "512x512", "epsilon", "https://github.com/Stability-AI/generative-models")]
    public void Propose_fills_what_detection_knows(string id, string architecture, string resolution, string? prediction, string implementation)
    {
        using var dir = new TempDir();
        string path = dir.File("My Model.v2.safetensors");
        Layouts.For(id).SaveSafetensors(path);
        ArchitectureReport report;
        using (ModelFile m = ModelFile.Open(path))
        {
            report = m.DetectArchitecture();
        }

        Dictionary<string, string> spec = ModelSpecFields.Propose(report, path, "ABCDEF");

        Assert.Equal("1.0.1", spec["modelspec.sai_model_spec"]);
        Assert.Equal(architecture, spec["modelspec.architecture"]);
        Assert.Equal(resolution, spec["modelspec.resolution"]);
        Assert.Equal(implementation, spec["modelspec.implementation"]);
        Assert.Equal(prediction, spec.GetValueOrDefault("modelspec.prediction_type"));
        Assert.Equal("0xabcdef", spec["modelspec.hash_sha256"]);
        Assert.Equal("My Model.v2", spec["modelspec.title"]);
    }

    [Fact]
    public void Fill_keeps_existing_values_fills_missing_or_empty_ones_and_always_refreshes_the_hash()
    {
        var metadata = new Dictionary<string, string>
        {
            ["modelspec.title"] = "Mine",
            ["modelspec.resolution"] = string.Empty,
            ["modelspec.hash_sha256"] = "0xstale",
        };
        var proposed = new Dictionary<string, string>
        {
            ["modelspec.title"] = "file",
            ["modelspec.resolution"] = "512x512",
            ["modelspec.hash_sha256"] = "0xfresh",
            ["modelspec.architecture"] = "stable-diffusion-v1",
        };

        IReadOnlyList<string> written = SafetensorsMetadata.FillModelSpec(metadata, proposed);

        Assert.Equal(["modelspec.architecture", "modelspec.hash_sha256", "modelspec.resolution"], written);
        Assert.Equal("Mine", metadata["modelspec.title"]);
        Assert.Equal("512x512", metadata["modelspec.resolution"]);
        Assert.Equal("0xfresh", metadata["modelspec.hash_sha256"]);
    }
}
