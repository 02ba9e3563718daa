using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace SafeCkpt.Fuzz;

/// <summary>The four ways an input can show a bug.</summary>
internal enum Oracle
{
    /// <summary>An exception that is not a <see cref="SafeCkptException"/> escaped the public API.</summary>
    Crash,

    /// <summary>One input took longer than the time limit.</summary>
    Hang,

    /// <summary>One input allocated more than the allocation limit.</summary>
    Blowup,

    /// <summary>The scanner and the reader do not agree on whether the file is clean, unsafe or malformed.</summary>
    Disagreement,
}

/// <summary>One oracle firing on one input; <see cref="Bucket"/> is the deduplication key.</summary>
internal sealed record Finding(Oracle Oracle, string Bucket, string ExceptionType, string Where, string Explanation, Exception? Exception);

/// <summary>Turns an <see cref="Outcome"/> into findings.</summary>
internal static partial class Oracles
{
    public const long AllocationLimit = 1L << 30;

    private static readonly Assembly Library = typeof(ModelFile).Assembly;

    public static List<Finding> Check(Outcome o)
    {
        var found = new List<Finding>();
        if (o.TimedOut)
        {
            found.Add(new Finding(Oracle.Hang, $"HANG|{o.HangPhase}", "-", o.HangPhase, $"did not finish within the time limit; it was in step '{o.HangPhase}'", null));
            return found;
        }

        if (o.LoadError is { } le && le is not SafeCkptException)
        {
            found.Add(Crash(le, $"load ({o.LoadPhase})"));
        }

        if (o.ScanError is { } se && se is not SafeCkptException)
        {
            found.Add(Crash(se, "scan"));
        }

        if (o.AllocatedBytes > AllocationLimit)
        {
            found.Add(new Finding(Oracle.Blowup, $"BLOWUP|{o.MaxAllocPhase}", "-", o.MaxAllocPhase, $"allocated {o.AllocatedBytes:N0} bytes, most in step '{o.MaxAllocPhase}'", null));
        }

        if (o.ScanError is not null || (o.LoadError is not null and not SafeCkptException) || o.Report is null)
        {
            return found;
        }

        bool scanClean = !o.Report.IsUnsafe && !o.Report.IsMalformed;
        Exception? load = o.LoadFailed ? o.LoadError : null;
        string scanSays = o.Report.IsUnsafe ? "unsafe: " + string.Join(", ", o.Report.Findings.Where(f => !f.Allowed).Take(3).Select(f => f.Name))
            : o.Report.IsMalformed ? "malformed: " + o.Report.Error : "clean";
        if (scanClean && load is not null)
        {
            // The scanner looks at pickles only; every malformed safetensors file is "clean" to it, so one bucket for all.
            string where = o.Report.Format == ModelFormat.Safetensors ? "(scanner does not validate safetensors)" : Where(load);
            found.Add(Disagreement("scan-clean-load-throws", o, load, where, $"scan says clean but {o.LoadPhase} throws {load.GetType().Name}: {OneLine(load.Message)}"));
        }
        else if (load is null && o.Report.IsUnsafe)
        {
            found.Add(Disagreement("load-ok-scan-unsafe", o, null, o.Report.Findings.First(f => !f.Allowed).Kind.ToString(), $"the file opens and reads but scan says {scanSays}"));
        }
        else if (load is null && o.Report.IsMalformed)
        {
            found.Add(Disagreement("load-ok-scan-malformed", o, null, ScanErrorPlace(o.Report.Error!), $"the file opens and reads but scan says {scanSays}"));
        }
        else if (load is UnsafeCheckpointException && !o.Report.IsUnsafe)
        {
            // When the scan stops at malformed bytes, which refusal the reader hit first says nothing about the
            // cause (the scan never got to confirm with the reader), so those share one bucket per format.
            string where = o.Report.IsMalformed ? "(scan stopped at malformed bytes)" : Where(load);
            string kind = o.Report.IsMalformed ? "load-unsafe-scan-malformed" : "load-unsafe-scan-clean";
            found.Add(Disagreement(kind, o, load, where, $"{o.LoadPhase} refuses it as unsafe ({OneLine(load.Message)}) but scan says {scanSays}"));
        }

        return found;
    }

    /// <summary>The first frame of the exception's stack that is in SafeCkpt, as Type.Method.</summary>
    public static string Where(Exception ex)
    {
        StackFrame[] frames = new StackTrace(ex, false).GetFrames();
        foreach (StackFrame f in frames)
        {
            if (f.GetMethod() is MethodBase m && m.DeclaringType?.Assembly == Library)
            {
                return Describe(m);
            }
        }

        return frames.Length > 0 && frames[0].GetMethod() is MethodBase top ? Describe(top) : "(no frame)";
    }

    /// <summary>The SafeCkpt frames of the stack, one a line.</summary>
    public static string LibraryStack(Exception ex) =>
        string.Join(Environment.NewLine, new StackTrace(ex, true).GetFrames()
            .Where(f => f.GetMethod()?.DeclaringType?.Assembly == Library)
            .Select(f => "   at " + Describe(f.GetMethod()!) + (f.GetFileName() is string file ? $" in {Path.GetFileName(file)}:{f.GetFileLineNumber()}" : "")));

    public static string OneLine(string s)
    {
        s = s.ReplaceLineEndings(" ");
        return s.Length > 200 ? s[..200] + "..." : s;
    }

    private static Finding Crash(Exception ex, string step)
    {
        string where = Where(ex);
        return new Finding(Oracle.Crash, $"CRASH|{ex.GetType().FullName}|{where}", ex.GetType().Name, where, $"{step}: {ex.GetType().Name}: {OneLine(ex.Message)}", ex);
    }

    private static Finding Disagreement(string kind, Outcome o, Exception? load, string where, string explanation) =>
        new(Oracle.Disagreement, $"DISAGREEMENT|{kind}|{o.Format}|{load?.GetType().Name ?? "none"}|{o.LoadPhase}|{where}", load?.GetType().Name ?? "none", where, explanation, load);

    private static string Describe(MethodBase m)
    {
        Type? t = m.DeclaringType;

        // Lambdas and iterators live in compiler-made nested types (<>c, <Walk>d__3); name the user type.
        while (t is not null && t.Name.StartsWith('<') && t.DeclaringType is not null)
        {
            t = t.DeclaringType;
        }

        return $"{t?.Name ?? "?"}.{m.Name}";
    }

    /// <summary>
    /// A scan error ("input: archive/data/0: byte 0x00 at 2 is not a pickle opcode") without the file, the record and
    /// the numbers, marked when the record is not a .pkl (the scanner took tensor bytes for a pickle).
    /// </summary>
    private static string ScanErrorPlace(string error)
    {
        string[] parts = error.Split(": ");
        if (parts.Length < 3)
        {
            return "scan: " + Template(error);
        }

        bool pkl = parts[1].EndsWith(".pkl", StringComparison.Ordinal) || parts[1].StartsWith("legacy", StringComparison.Ordinal) || parts[1].Contains("pickle", StringComparison.Ordinal);
        return (pkl ? "scan: " : "scan of a non-.pkl record: ") + Template(string.Join(": ", parts[2..]));
    }

    /// <summary>A message with its numbers and file names taken out, for grouping.</summary>
    public static string Template(string message)
    {
        string s = DigitsRegex().Replace(message, "#");
        return s.Length > 48 ? s[..48] : s;
    }

    [GeneratedRegex(@"0x[0-9a-fA-F]+|\d[\d,]*")]
    private static partial Regex DigitsRegex();
}
