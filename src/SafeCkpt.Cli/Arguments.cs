namespace SafeCkpt.Cli;

/// <summary>
/// A small, strict parser for <c>command ARG... [--flag] [--option VALUE]</c>: unknown options are usage errors.
/// </summary>
internal sealed class Arguments
{
    private readonly List<string> _positional = [];
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);

    private Arguments()
    {
    }

    public IReadOnlyList<string> Positional => _positional;

    /// <summary>Parses <paramref name="args"/>; <paramref name="flags"/> take no value, <paramref name="options"/> take one.</summary>
    public static Arguments Parse(IEnumerable<string> args, IReadOnlyCollection<string> flags, IReadOnlyCollection<string> options)
    {
        var result = new Arguments();
        using IEnumerator<string> e = args.GetEnumerator();
        bool onlyPositional = false;
        while (e.MoveNext())
        {
            string a = e.Current;
            if (onlyPositional || !a.StartsWith("--", StringComparison.Ordinal) || a == "-")
            {
                result._positional.Add(a);
                continue;
            }

            if (a == "--")
            {
                onlyPositional = true;
                continue;
            }

            string name = a;
            string? inline = null;
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                name = a[..eq];
                inline = a[(eq + 1)..];
            }

            if (flags.Contains(name) && inline is null)
            {
                result._flags.Add(name);
            }
            else if (options.Contains(name))
            {
                string value = inline ?? (e.MoveNext() ? e.Current : throw new UsageException($"{name} needs a value"));
                if (!result._options.TryGetValue(name, out List<string>? list))
                {
                    result._options[name] = list = [];
                }

                list.Add(value);
            }
            else
            {
                throw new UsageException($"unknown option {name}");
            }
        }

        return result;
    }

    public bool Has(string flag) => _flags.Contains(flag);

    public string? Value(string option) => _options.TryGetValue(option, out List<string>? v) ? v[^1] : null;

    public IReadOnlyList<string> Values(string option) => _options.TryGetValue(option, out List<string>? v) ? v : [];

    /// <summary>The read budgets asked for: <c>--max-expansion N</c> raises how often a tensor view may repeat its stored elements.</summary>
    public OpenOptions OpenOptions() => Value("--max-expansion") is not { } n ? SafeCkpt.OpenOptions.Default
        : int.TryParse(n, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int x) && x >= 1
            ? new OpenOptions { MaxViewExpansion = x }
            : throw new UsageException($"--max-expansion needs a whole number of at least 1, not '{n}'");
}
