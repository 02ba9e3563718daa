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
/// As the window narrows the line gives up, in turn: bar length, the amounts, the elapsed time, description length
/// (shortened from the left, where a path's folders are, keeping a <c>[2/5]</c> count), the description, the rate, and
/// the time left; percentage and bar stay. It never wraps, whatever the width.
/// </summary>
/// <param name="Description">The description as shown (possibly shortened), or empty.</param>
/// <param name="BarWidth">The bar's width in columns.</param>
/// <param name="BarFilled">How many of them are filled.</param>
/// <param name="Tail">Percentage, amounts, rate, elapsed and time left, as shown.</param>
internal sealed record ProgressLine(string Description, int BarWidth, int BarFilled, string Tail)
{
    private const int MaxBar = 30;
    private const string Gap = "  ";

    /// <summary>The layouts tried, most complete first: which parts show, and the least the description and bar may get.</summary>
    private static readonly Step[] Steps =
    [
        new(Amounts: true, Elapsed: true, Rate: true, Left: true, Description: 24, Bar: 15),
        new(Amounts: false, Elapsed: true, Rate: true, Left: true, Description: 24, Bar: 15),
        new(Amounts: false, Elapsed: false, Rate: true, Left: true, Description: 20, Bar: 12),
        new(Amounts: false, Elapsed: false, Rate: true, Left: true, Description: 12, Bar: 10),
        new(Amounts: false, Elapsed: false, Rate: true, Left: true, Description: 0, Bar: 10),
        new(Amounts: false, Elapsed: false, Rate: false, Left: true, Description: 0, Bar: 6),
        new(Amounts: false, Elapsed: false, Rate: false, Left: false, Description: 0, Bar: 1),
    ];

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
        string amounts = snapshot.Unit == ProgressUnit.Bytes
            ? $"{Format.Bytes(snapshot.Done)}/{Format.Bytes(snapshot.Total)}"
            : $"{Format.Count(snapshot.Done)}/{Format.Count(snapshot.Total)} files";
        string? rate = snapshot.Unit == ProgressUnit.Bytes && snapshot.Rate is double r ? Format.Bytes((long)r) + "/s" : null;
        string elapsed = Clock(snapshot.Elapsed);
        string? left = snapshot.Remaining is TimeSpan t ? Clock(t) + " left" : null;
        int descriptionCells = cells(description);
        foreach (Step step in Steps)
        {
            string?[] parts = [percent, step.Amounts ? amounts : null, step.Rate ? rate : null, step.Elapsed ? elapsed : null, step.Left ? left : null];
            string tail = string.Join(Gap, parts.Where(p => p is not null));
            int room = width - cells(tail) - Gap.Length;
            bool describe = step.Description > 0 && descriptionCells > 0;
            if (describe && room >= step.Bar + Gap.Length + Math.Min(descriptionCells, step.Description))
            {
                int bar = Math.Clamp(room - Gap.Length - descriptionCells, step.Bar, MaxBar);
                string shown = Shorten(description, room - Gap.Length - bar, cells);
                return new ProgressLine(shown, bar, Filled(bar, fraction), tail);
            }

            if (!describe && room >= step.Bar)
            {
                int bar = Math.Min(room, MaxBar);
                return new ProgressLine(string.Empty, bar, Filled(bar, fraction), tail);
            }
        }

        return new ProgressLine(string.Empty, 1, Filled(1, fraction), percent);
    }

    /// <summary>A duration as a clock: <c>0:07</c>, <c>12:34</c>, <c>1:02:03</c>.</summary>
    public static string Clock(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
        : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:00}");

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

    /// <summary>What a layout shows: each optional part, and the least columns the description and the bar may get.</summary>
    private readonly record struct Step(bool Amounts, bool Elapsed, bool Rate, bool Left, int Description, int Bar);
}

/// <summary>Where a piece of work stands, as a progress display shows it.</summary>
/// <param name="Done">Bytes or files done.</param>
/// <param name="Total">Bytes or files in all.</param>
/// <param name="Unit">What is counted.</param>
/// <param name="Elapsed">Time since the work started.</param>
/// <param name="Rate">Bytes (or files) per second lately, once it can be told.</param>
/// <param name="Remaining">The time left at that rate, once it can be told.</param>
internal sealed record ProgressSnapshot(long Done, long Total, ProgressUnit Unit, TimeSpan Elapsed, double? Rate, TimeSpan? Remaining);
