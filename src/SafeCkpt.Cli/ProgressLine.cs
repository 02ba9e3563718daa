using System.Globalization;

namespace SafeCkpt.Cli;

/// <summary>What a progress display counts.</summary>
internal enum ProgressUnit
{
    /// <summary>Bytes read or written: amounts and a rate are shown.</summary>
    Bytes,

    /// <summary>Files done: a count is shown, no rate.</summary>
    Files,
}

/// <summary>
/// One progress line laid out for a width: <c>description  ━━━━━━────  42%  1.2 GB/4.0 GB  512 MB/s  0:07  0:09 left</c>.
/// Parts are dropped, least useful first (description, amounts, elapsed, rate), and the description is shortened from
/// the left (the file name is at the end), until the line fits: it never wraps, whatever the window's width.
/// </summary>
/// <param name="Description">The description as shown (possibly shortened), or empty.</param>
/// <param name="BarWidth">The bar's width in columns.</param>
/// <param name="BarFilled">How many of them are filled.</param>
/// <param name="Tail">Percentage, amounts, rate, elapsed and time left, as shown.</param>
internal sealed record ProgressLine(string Description, int BarWidth, int BarFilled, string Tail)
{
    private const int MinBar = 6;
    private const int MaxBar = 30;
    private const int MinDescription = 8;
    private const string Gap = "  ";

    /// <summary>The line as text, the bar drawn with box characters.</summary>
    public override string ToString() =>
        (Description.Length > 0 ? Description + Gap : string.Empty) + new string('━', BarFilled) + new string('─', BarWidth - BarFilled) + Gap + Tail;

    /// <summary>Lays out a line of at most <paramref name="width"/> columns.</summary>
    /// <param name="width">The columns available.</param>
    /// <param name="description">What is being done (a file name, <c>[2/5] model.ckpt</c>).</param>
    /// <param name="snapshot">Where the work stands.</param>
    /// <param name="cells">The columns a string takes on the terminal (East Asian wide characters take two).</param>
    public static ProgressLine Layout(int width, string description, ProgressSnapshot snapshot, Func<string, int> cells)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(cells);
        double fraction = snapshot.Total <= 0 ? 1 : Math.Clamp((double)snapshot.Done / snapshot.Total, 0, 1);
        string percent = string.Create(CultureInfo.InvariantCulture, $"{(int)(fraction * 100),3}%");
        string? amounts = snapshot.Unit == ProgressUnit.Bytes
            ? $"{Format.Bytes(snapshot.Done)}/{Format.Bytes(snapshot.Total)}"
            : $"{Format.Count(snapshot.Done)}/{Format.Count(snapshot.Total)} files";
        string? rate = snapshot.Unit == ProgressUnit.Bytes && snapshot.Rate is double r ? Format.Bytes((long)r) + "/s" : null;
        string? elapsed = Clock(snapshot.Elapsed);
        string? left = snapshot.Remaining is TimeSpan t ? Clock(t) + " left" : null;

        // Least useful first: each is dropped in turn while the line is too wide.
        string?[] optional = [amounts, elapsed, rate, left];
        string desc = description;
        while (true)
        {
            string tail = string.Join(Gap, new[] { percent }.Concat(TailOrder(optional)).Where(s => s is not null));
            int fixedWidth = cells(tail) + Gap.Length;
            int room = width - fixedWidth;
            if (desc.Length > 0)
            {
                // The description takes what the bar leaves above its full width, and is shortened to fit.
                int forDescription = room - MaxBar - Gap.Length;
                if (forDescription < MinDescription)
                {
                    forDescription = room - MinBar - Gap.Length;
                }

                if (forDescription >= MinDescription)
                {
                    string shown = Shorten(desc, forDescription, cells);
                    int bar = Math.Clamp(room - cells(shown) - Gap.Length, MinBar, MaxBar);
                    return new ProgressLine(shown, bar, Filled(bar, fraction), tail);
                }

                desc = string.Empty;
                continue;
            }

            if (room >= MinBar || Array.TrueForAll(optional, s => s is null))
            {
                int bar = Math.Clamp(room, Math.Min(MinBar, Math.Max(room, 1)), MaxBar);
                return new ProgressLine(string.Empty, bar, Filled(bar, fraction), tail);
            }

            optional[Array.FindIndex(optional, s => s is not null)] = null;
        }
    }

    /// <summary>A duration as a clock: <c>0:07</c>, <c>12:34</c>, <c>1:02:03</c>.</summary>
    public static string Clock(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
        : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:00}");

    /// <summary>The tail's parts in the order they are shown (amounts, rate, elapsed, left).</summary>
    private static IEnumerable<string?> TailOrder(string?[] optional) => [optional[0], optional[2], optional[1], optional[3]];

    private static int Filled(int bar, double fraction) => (int)Math.Round(bar * fraction, MidpointRounding.ToZero);

    /// <summary>
    /// The end of <paramref name="text"/> behind an ellipsis, in at most <paramref name="max"/> columns; a leading
    /// <c>[2/5] </c> stays, so the count is never what is cut.
    /// </summary>
    private static string Shorten(string text, int max, Func<string, int> cells)
    {
        if (cells(text) <= max)
        {
            return text;
        }

        int counter = text.StartsWith('[') ? text.IndexOf("] ", StringComparison.Ordinal) + 2 : 0;
        string prefix = counter > 1 && cells(text[..counter]) + 2 <= max ? text[..counter] : string.Empty;
        for (int skip = prefix.Length + 1; skip < text.Length; skip++)
        {
            string shown = prefix + "…" + text[skip..];
            if (cells(shown) <= max)
            {
                return shown;
            }
        }

        return prefix + "…";
    }
}

/// <summary>Where a piece of work stands, as a progress display shows it.</summary>
/// <param name="Done">Bytes or files done.</param>
/// <param name="Total">Bytes or files in all.</param>
/// <param name="Unit">What is counted.</param>
/// <param name="Elapsed">Time since the work started.</param>
/// <param name="Rate">Bytes (or files) per second lately, once it can be told.</param>
/// <param name="Remaining">The time left at that rate, once it can be told.</param>
internal sealed record ProgressSnapshot(long Done, long Total, ProgressUnit Unit, TimeSpan Elapsed, double? Rate, TimeSpan? Remaining);
