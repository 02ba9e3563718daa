using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace SafeCkpt.Cli;

/// <summary>
/// Progress on standard error while a command works. On a terminal: one live line (drawn by Spectre.Console, laid
/// out by <see cref="ProgressLine"/> for the window's width) that appears once the work has lasted half a second and
/// is cleared when it ends. When standard error is plain: a line at every quarter (<c>progress: 50% (...)</c>), so a
/// log shows that work goes on. Nothing with <c>--json</c> or <c>--quiet</c>.
/// </summary>
internal sealed class ProgressDisplay : IProgress<long>, IDisposable
{
    private static readonly TimeSpan ShowAfter = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(5);
    private readonly Lock _lock = new();
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private readonly Queue<(TimeSpan At, long Done)> _samples = new();
    private readonly ProgressUnit _unit;
    private readonly TextWriter? _plain;
    private readonly ManualResetEventSlim _finished = new();
    private readonly Thread? _live;
    private string _description;
    private long _done;
    private long _total;
    private int _lastQuarter;

    private ProgressDisplay(string description, long total, ProgressUnit unit, TextWriter? plain, IAnsiConsole? live)
    {
        _description = description;
        _total = total;
        _unit = unit;
        _plain = plain;
        _samples.Enqueue((TimeSpan.Zero, 0));
        if (live is not null)
        {
            _live = new Thread(() => RunLive(live)) { IsBackground = true, Name = "progress" };
            _live.Start();
        }
    }

    /// <summary>The description shown before the bar (a file name, <c>[2/5] model.ckpt</c>).</summary>
    public string Description
    {
        get
        {
            lock (_lock)
            {
                return _description;
            }
        }

        set
        {
            lock (_lock)
            {
                _description = value;
            }
        }
    }

    /// <summary>Starts showing progress of a piece of work.</summary>
    /// <param name="terminal">Where to show it (standard error).</param>
    /// <param name="description">What is being done.</param>
    /// <param name="total">Bytes or files in all.</param>
    /// <param name="unit">What is counted.</param>
    /// <param name="silent">Show nothing (<c>--json</c>, <c>--quiet</c>).</param>
    /// <param name="plainLines">Whether a plain standard error gets the quarter lines (a command that prints a line per file has no need of them).</param>
    public static ProgressDisplay Start(Terminal terminal, string description, long total, ProgressUnit unit, bool silent, bool plainLines = true) =>
        silent ? new ProgressDisplay(description, total, unit, null, null)
        : terminal.ErrConsole is { } console ? new ProgressDisplay(description, total, unit, null, console)
        : new ProgressDisplay(description, total, unit, plainLines ? terminal.Err : null, null);

    /// <summary>Sets how much is done, in the unit counted.</summary>
    public void Report(long value)
    {
        string? line = null;
        lock (_lock)
        {
            _done = value;
            TimeSpan now = _watch.Elapsed;
            if (now - _samples.Last().At >= TimeSpan.FromMilliseconds(100))
            {
                _samples.Enqueue((now, value));
                while (_samples.Count > 2 && now - _samples.Peek().At > RateWindow)
                {
                    _samples.Dequeue();
                }
            }

            if (_plain is not null)
            {
                int quarter = _total <= 0 ? 4 : (int)Math.Min(4, value * 4 / _total);
                if (quarter > _lastQuarter)
                {
                    _lastQuarter = quarter;
                    line = PlainLine(quarter * 25);
                }
            }
        }

        if (line is not null)
        {
            _plain!.WriteLine(line);
        }
    }

    /// <summary>Sets the total (a save learns it when it starts).</summary>
    public void SetTotal(long total)
    {
        lock (_lock)
        {
            _total = total;
        }
    }

    /// <summary>Progress of one save: its total becomes the display's.</summary>
    public IProgress<SaveProgress> ForSave() => new SaveAdapter(this, 0, takeTotal: true);

    /// <summary>Progress of one save among several, counted from <paramref name="offset"/> bytes already done.</summary>
    public IProgress<SaveProgress> ForSave(long offset) => new SaveAdapter(this, offset, takeTotal: false);

    /// <summary>Where the work stands.</summary>
    public ProgressSnapshot Snapshot()
    {
        lock (_lock)
        {
            TimeSpan now = _watch.Elapsed;
            (TimeSpan at, long first) = _samples.Peek();
            double seconds = (now - at).TotalSeconds;
            double? rate = seconds >= 0.5 && _done > first ? (_done - first) / seconds : null;
            TimeSpan? remaining = rate is double r && _total >= _done ? TimeSpan.FromSeconds(Math.Min((_total - _done) / r, TimeSpan.FromDays(99).TotalSeconds)) : null;
            return new ProgressSnapshot(_done, _total, _unit, now, rate, remaining);
        }
    }

    /// <summary>Ends the display: the live line is cleared.</summary>
    public void Dispose()
    {
        _finished.Set();
        _live?.Join();
        _finished.Dispose();
    }

    private string PlainLine(int percent)
    {
        ProgressSnapshot s = Snapshot();
        string amounts = _unit == ProgressUnit.Bytes ? $"{Format.Bytes(s.Done)} of {Format.Bytes(s.Total)}" : $"{Format.Count(s.Done)} of {Format.Count(s.Total)} files";
        string rate = s.Rate is double r && _unit == ProgressUnit.Bytes ? $", {Format.Bytes((long)r)}/s" : string.Empty;
        string left = s.Remaining is TimeSpan t && percent < 100 ? $", {ProgressLine.Clock(t)} left" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"progress: {percent}% ({amounts}, {s.Elapsed.TotalSeconds:0.0} s{rate}{left})");
    }

    private void RunLive(IAnsiConsole console)
    {
        if (_finished.Wait(ShowAfter))
        {
            return;
        }

        try
        {
            new Progress(console) { AutoClear = true, ExcludeVerticalPadding = true, RefreshRate = TimeSpan.FromMilliseconds(100) }
                .Columns(new LineColumn(this))
                .Start(ctx =>
                {
                    // The line is drawn from this display's state; the task only keeps Spectre's live rendering going.
                    ProgressTask task = ctx.AddTask("progress", maxValue: 1);
                    _finished.Wait();
                    task.Value = 1;
                });
        }
#pragma warning disable CA1031 // A display that fails must not end the work it shows: the command goes on without it.
        catch (Exception)
#pragma warning restore CA1031
        {
            _finished.Wait();
        }
    }

    /// <summary>The whole line as one column, so Spectre's grid never wraps it.</summary>
    private sealed class LineColumn(ProgressDisplay display) : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            // One column short of the width: a line that fills the last column makes some terminals wrap.
            ProgressLine line = ProgressLine.Layout(options.ConsoleSize.Width - 1, display.Description, display.Snapshot(), s => Cells(options, s));
            char bar = options.Unicode ? '━' : '#';
            var p = new Paragraph();
            if (line.Description.Length > 0)
            {
                p.Append(line.Description + "  ");
            }

            p.Append(new string(bar, line.BarFilled), Palette.Good);
            p.Append(new string(options.Unicode ? '─' : '-', line.BarWidth - line.BarFilled), Palette.Border);
            p.Append("  " + line.Tail);
            return p;
        }

        private static int Cells(RenderOptions options, string s) => ((IRenderable)new Text(s)).Measure(options, int.MaxValue).Max;
    }

    private sealed class SaveAdapter(ProgressDisplay display, long offset, bool takeTotal) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value)
        {
            if (takeTotal)
            {
                display.SetTotal(value.TotalBytes);
            }

            display.Report(offset + value.BytesWritten);
        }
    }
}
