namespace SafeCkpt.Cli;

/// <summary>"Did you mean" for a mistyped command or option: the closest name within a couple of edits.</summary>
internal static class Suggestions
{
    /// <summary><c>; did you mean 'X'?</c> for the candidate closest to <paramref name="typed"/>, or empty when none is close.</summary>
    public static string DidYouMean(string typed, IEnumerable<string> candidates)
    {
        string? best = Closest(typed, candidates);
        return best is null ? string.Empty : $"; did you mean '{best}'?";
    }

    /// <summary>The candidate closest to <paramref name="typed"/>: at most two edits (a swap of neighbours counts one), and fewer than half its letters.</summary>
    public static string? Closest(string typed, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(typed);
        ArgumentNullException.ThrowIfNull(candidates);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates)
        {
            int d = Distance(typed.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance && d <= 2 && d * 2 < Math.Max(typed.TrimStart('-').Length, 2))
            {
                best = candidate;
                bestDistance = d;
            }
        }

        return best;
    }

    /// <summary>The optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
