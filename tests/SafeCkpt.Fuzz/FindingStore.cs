using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SafeCkpt.Fuzz;

/// <summary>
/// The buckets found so far, one saved input per bucket: <c>{oracle}-{exception}-{where}-{hash}.bin</c> in the
/// output folder with a <c>.txt</c> beside it saying what it found, how it was made and how to replay it.
/// </summary>
internal sealed class FindingStore(string outDir)
{
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);

    public Dictionary<Oracle, int> CountByOracle { get; } = Enum.GetValues<Oracle>().ToDictionary(o => o, _ => 0);

    public List<(Finding Finding, string File)> Buckets { get; } = [];

    public bool IsNew(Finding f) => !_files.ContainsKey(f.Bucket);

    public string Save(Finding f, byte[] input, int originalLength, string origin)
    {
        Directory.CreateDirectory(outDir);
        string hash = Convert.ToHexStringLower(SHA256.HashData(input))[..8];
        string name = $"{f.Oracle.ToString().ToLowerInvariant()}-{Slug(f.ExceptionType)}-{Slug(f.Where)}-{hash}";
        string bin = Path.Combine(outDir, name + ".bin");
        File.WriteAllBytes(bin, input);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"oracle:      {f.Oracle.ToString().ToUpperInvariant()}");
        text.AppendLine(CultureInfo.InvariantCulture, $"bucket:      {f.Bucket}");
        text.AppendLine(CultureInfo.InvariantCulture, $"exception:   {f.ExceptionType}");
        text.AppendLine(CultureInfo.InvariantCulture, $"where:       {f.Where}");
        text.AppendLine(CultureInfo.InvariantCulture, $"what:        {f.Explanation}");
        text.AppendLine(CultureInfo.InvariantCulture, $"input:       {input.Length:N0} bytes (found as {originalLength:N0} bytes, then shrunk while it stayed in the bucket)");
        text.AppendLine(CultureInfo.InvariantCulture, $"made from:   {origin}");
        text.AppendLine(CultureInfo.InvariantCulture, $"replay:      dotnet run --project tests/SafeCkpt.Fuzz -c Release -- --replay {outDir}");
        if (f.Exception is { } ex)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"{ex.GetType().FullName}: {ex.Message}");
            text.AppendLine(Oracles.LibraryStack(ex));
        }

        File.WriteAllText(Path.ChangeExtension(bin, ".txt"), text.ToString());
        if (_files.TryGetValue(f.Bucket, out string? old) && old != bin)
        {
            File.Delete(old);
            File.Delete(Path.ChangeExtension(old, ".txt"));
        }
        else if (!_files.ContainsKey(f.Bucket))
        {
            CountByOracle[f.Oracle]++;
            Buckets.Add((f, bin));
        }

        _files[f.Bucket] = bin;
        int at = Buckets.FindIndex(b => b.Finding.Bucket == f.Bucket);
        Buckets[at] = (f, bin);
        return bin;
    }

    private static string Slug(string s)
    {
        var b = new StringBuilder();
        foreach (char c in s)
        {
            b.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
        }

        string r = b.ToString().Trim('_');
        return r.Length > 48 ? r[..48] : r;
    }
}
