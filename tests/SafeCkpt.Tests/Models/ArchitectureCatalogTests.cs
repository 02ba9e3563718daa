using SafeCkpt.Models;

namespace SafeCkpt.Tests.Models;

public class ArchitectureCatalogTests
{
    [Fact]
    public void Every_catalog_id_has_a_layout_test_or_is_reachable_by_metadata_only()
    {
        var tested = new HashSet<string>(Layouts.AllIds.Concat(Layouts.MetadataOnlyIds)) { "unknown" };
        string[] untested = [.. ArchitectureCatalog.All.Select(a => a.Id).Where(id => !tested.Contains(id))];
        Assert.True(untested.Length == 0, string.Join(", ", untested));
    }

    [Fact]
    public void Every_metadata_only_id_is_an_alternative_of_a_detected_id()
    {
        var alternatives = Layouts.AllIds.SelectMany(id => ArchitectureDetector.Detect(Layouts.For(id).Build().Tensors).Alternatives).ToHashSet();
        Assert.All(Layouts.MetadataOnlyIds, id => Assert.Contains(id, alternatives));
    }

    [Fact]
    public void Ids_and_modelspec_ids_are_unique_and_bases_are_catalog_ids()
    {
        Assert.Equal(ArchitectureCatalog.All.Count, ArchitectureCatalog.All.Select(a => a.Id).Distinct().Count());
        string[] specs = [.. ArchitectureCatalog.All.Select(a => a.ModelSpec).OfType<string>()];
        Assert.Equal(specs.Length, specs.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(ArchitectureCatalog.All.Where(a => a.Base is not null), a => Assert.True(ArchitectureCatalog.Contains(a.Base!), a.Id));
        Assert.All(ArchitectureCatalog.ModelSpec, kv => Assert.True(ArchitectureCatalog.Contains(kv.Value), kv.Key));
    }

    [Fact]
    public void Config_yamls_are_exactly_the_ldm_and_sgm_ids_with_a_published_config() =>
        Assert.Equal(
            ["sd1", "sd1-inpaint", "sd1-pix2pix", "sd2", "sd2-v", "sd2-inpaint", "sd2-depth", "sd2-unclip-l", "sd2-unclip-h", "sdxl", "sdxl-refiner", "sdxl-inpaint"],
            ArchitectureCatalog.ConfigYamlIds);

    [Fact]
    public void The_readme_table_lists_every_id()
    {
        string readme = File.ReadAllText(Path.Combine(FindRoot(), "README.md"));
        Assert.All(ArchitectureCatalog.All, a => Assert.Contains($"| `{a.Id}` |", readme, StringComparison.Ordinal));
    }

    private static string FindRoot()
    {
        string? d = AppContext.BaseDirectory;
        while (d is not null && !File.Exists(Path.Combine(d, "SafeCkpt.sln")))
        {
            d = Path.GetDirectoryName(d);
        }

        return d ?? throw new DirectoryNotFoundException("SafeCkpt.sln not found above the test binaries");
    }
}
