using System.Security.Cryptography;
using System.Text.Json;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>Fixtures/manifest.json, written by make_fixtures.py with real PyTorch.</summary>
public static class Manifest
{
    private static readonly Lazy<JsonDocument> Doc = new(() => JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("manifest.json"))));

    public static JsonElement Fixture(string key) => Doc.Value.RootElement.GetProperty("fixtures").GetProperty(key);

    public static IEnumerable<string> Keys(string kind) =>
        Doc.Value.RootElement.GetProperty("fixtures").EnumerateObject().Where(p => p.Value.GetProperty("kind").GetString() == kind).Select(p => p.Name);

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
}
