using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;

namespace SafeCkpt.Safety;

// Protocol-0 text numbers (INT, LONG, FLOAT), accepted in the forms CPython and C's strtol read identically.
internal sealed partial class PickleMachine
{
    [GeneratedRegex("^(0|-?[1-9][0-9]{0,17})$", RegexOptions.CultureInvariant)]
    private static partial Regex TextInt();

    [GeneratedRegex("^(0|-?[1-9][0-9]{0,600})L?$", RegexOptions.CultureInvariant)]
    private static partial Regex TextLong();

    [GeneratedRegex("^-?[0-9]{1,40}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{1,3})?$", RegexOptions.CultureInvariant)]
    private static partial Regex TextFloat();

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "Returns a boxed bool or long, like pickle's INT.")]
    private object ParseTextInt(string line)
    {
        // pickle's load_int: a two-character "00"/"01" is False/True; C strtol reads a leading 0 as octal, so only
        // plain decimal is accepted here.
        if (line is "00" or "01")
        {
            return line == "01";
        }

        return TextInt().IsMatch(line)
            ? long.Parse(line, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
            : throw Unsupported($"the protocol-0 INT '{Short(line)}' (only plain decimal integers are read)");
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "Returns a boxed long or a BigInteger, like Python's int.")]
    private object ParseTextLong(string line)
    {
        if (!TextLong().IsMatch(line))
        {
            throw Unsupported($"the protocol-0 LONG '{Short(line)}' (only plain decimal integers are read)");
        }

        var v = BigInteger.Parse(line.TrimEnd('L'), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
    }

    private double ParseTextFloat(string line)
    {
        if (!TextFloat().IsMatch(line) || !double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
        {
            throw Unsupported($"the protocol-0 FLOAT '{Short(line)}' (only plain finite decimal numbers are read)");
        }

        return v;
    }

    private static string Short(string s) => s.Length > 40 ? s[..40] + "..." : s;
}
