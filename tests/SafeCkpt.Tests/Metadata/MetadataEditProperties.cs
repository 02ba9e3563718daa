using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Metadata;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Metadata;

/// <summary>Round trips of random metadata through an edit: what is set reads back, the tensors and their bytes never change.</summary>
public sealed class MetadataEditProperties
{
    private static readonly char[] Awkward = "ab\"\\/\u0000\u0001\u001f\u007f\n\r\t é中✓😀{}[]:,=*".ToCharArray();

    /// <summary>Keys and values with quotes, backslashes, control characters, non-ASCII and astral characters; values may be empty or large.</summary>
    private static readonly Gen<string> Key = Gen.OneOf(Gens.Text, Gen.Elements(Awkward).ArrayOf().Select(c => new string(c))).Where(k => k.Length > 0 && WellFormed(k));

    private static readonly Gen<string> Value = Gen.OneOf(
        Gen.Constant(string.Empty),
        Gens.Text,
        Gen.Elements(Awkward).ArrayOf().Select(c => new string(c)).Where(WellFormed),
        Gen.Choose(1, 20_000).Select(n => new string('v', n)));

    private static readonly Gen<Dictionary<string, string>> Map =
        from keys in Key.ArrayOf().Select(k => k.Distinct(StringComparer.Ordinal).Take(8).ToArray())
        from values in Value.ArrayOf(keys.Length)
        select keys.Zip(values).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);

    [Property(MaxTest = 60)]
    public Property Setting_a_map_reads_back_equal_and_leaves_tensors_and_data_bytes_unchanged() =>
        Prop.ForAll(Map.ToArbitrary(), Map.ToArbitrary(), (initial, set) =>
        {
            using var dir = new TempDir();
            string path = MetaKit.Make(dir.File("p.safetensors"), initial);
            byte[] data = MetaKit.Data(path);
            TensorInfo[] tensors = Tensors(path);

            MetadataEditResult r = SafetensorsMetadata.Edit(path, m =>
            {
                foreach (KeyValuePair<string, string> kv in set)
                {
                    m[kv.Key] = kv.Value;
                }
            });

            var expected = new Dictionary<string, string>(initial, StringComparer.Ordinal);
            foreach (KeyValuePair<string, string> kv in set)
            {
                expected[kv.Key] = kv.Value;
            }

            bool ok = Same(expected, MetaKit.Read(path)) && Same(expected, r.After)
                && MetaKit.Data(path).AsSpan().SequenceEqual(data)
                && Tensors(path).SequenceEqual(tensors, TensorComparer.Instance)
                && !File.Exists(MetaKit.Journal(path));
            return ok.Label($"mode {r.Mode}, {initial.Count} initial keys, {set.Count} set");
        });

    [Property(MaxTest = 60)]
    public Property Unset_removes_exactly_the_named_keys_and_strip_keeps_exactly_the_kept_ones() =>
        Prop.ForAll(Map.ToArbitrary(), Gen.Choose(0, 255).ToArbitrary(), (initial, mask) =>
        {
            using var dir = new TempDir();
            string path = MetaKit.Make(dir.File("u.safetensors"), initial);
            string[] keys = [.. initial.Keys];
            HashSet<string> chosen = [.. keys.Where((_, i) => (mask >> (i % 8) & 1) == 1)];

            SafetensorsMetadata.Edit(path, m =>
            {
                foreach (string k in chosen)
                {
                    m.Remove(k);
                }
            });
            bool unset = Same(initial.Where(kv => !chosen.Contains(kv.Key)).ToDictionary(), MetaKit.Read(path));

            string copy = dir.File("strip.safetensors");
            SafetensorsMetadata.Edit(path, m =>
            {
                foreach (string k in m.Keys.Where(k => chosen.Contains(k) == false).ToList())
                {
                    m.Remove(k);
                }
            }, new MetadataEditOptions { OutputPath = copy });
            bool strip = MetaKit.Read(copy).Count == 0 && MetaKit.Data(copy).AsSpan().SequenceEqual(MetaKit.Data(path));
            return (unset && strip).Label($"{keys.Length} keys, {chosen.Count} chosen");
        });

    [Property(MaxTest = 40)]
    public Property A_spliced_header_keeps_every_tensor_entry_byte_for_byte() =>
        Prop.ForAll(Gens.Checkpoint.ToArbitrary(), Map.ToArbitrary(), (ckpt, metadata) =>
        {
            using var dir = new TempDir();
            string path = dir.File("s.safetensors");
            ckpt.ToBuilder().SaveSafetensors(path);
            byte[] file = File.ReadAllBytes(path);
            byte[] json = file[8..(8 + (int)MetaKit.HeaderLength(path))];

            byte[] spliced = HeaderSplice.Build(json, metadata);

            SafetensorsReader.Header before = SafetensorsReader.Parse(json, file.Length - 8 - json.Length, path);
            SafetensorsReader.Header after = SafetensorsReader.Parse(spliced, file.Length - 8 - json.Length, path);
            bool entries = before.Tensors.Select(t => (t.Info.Name, t.Begin, t.End)).SequenceEqual(after.Tensors.Select(t => (t.Info.Name, t.Begin, t.End)));
            bool verbatim = Tail(spliced).SequenceEqual(Tail(json.AsSpan().TrimEnd((byte)' ').ToArray()));
            string rest = System.Text.Encoding.UTF8.GetString(spliced);
            return (entries && verbatim && Same(metadata, after.Metadata)).Label(rest);
        });

    /// <summary>The header after its first member when that is the metadata (the writer puts it first), else after the opening brace, without the separating comma.</summary>
    private static byte[] Tail(byte[] json)
    {
        var reader = new System.Text.Json.Utf8JsonReader(json);
        reader.Read();
        long start = reader.BytesConsumed;
        if (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.ValueTextEquals("__metadata__"))
        {
            reader.Read();
            reader.Skip();
            start = reader.BytesConsumed;
        }

        return json.AsSpan((int)start).TrimStart((byte)',').ToArray();
    }

    private static TensorInfo[] Tensors(string path)
    {
        using ModelFile m = ModelFile.Open(path);
        return [.. m.Tensors.Tensors];
    }

    private static bool Same(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out string? v) && v == kv.Value);

    private static bool WellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return false;
            }
        }

        return true;
    }

    private sealed class TensorComparer : IEqualityComparer<TensorInfo>
    {
        public static readonly TensorComparer Instance = new();

        public bool Equals(TensorInfo? x, TensorInfo? y) => x!.Name == y!.Name && x.DType == y.DType && x.Shape.SequenceEqual(y.Shape);

        public int GetHashCode(TensorInfo obj) => obj.Name.GetHashCode(StringComparison.Ordinal);
    }
}
