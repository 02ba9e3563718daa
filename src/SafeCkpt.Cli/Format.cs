using System.Globalization;
using System.Text;

namespace SafeCkpt.Cli;

/// <summary>Number, size and text formatting for people.</summary>
internal static class Format
{
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double v = bytes;
        int u = 0;
        while (v >= 1000 && u < units.Length - 1)
        {
            v /= 1000;
            u++;
        }

        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.00} {units[u]}");
    }

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>
    /// Text from a file (metadata, provenance) for the terminal: control characters (C0, DEL, C1) shown as escapes,
    /// so a file cannot move the cursor or recolour the screen.
    /// </summary>
    public static string Safe(string text)
    {
        if (!text.Any(c => char.IsControl(c)))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            _ = char.IsControl(c) ? sb.Append(c switch { '\t' => "\\t", '\n' => "\\n", '\r' => "\\r", _ => $"\\x{(int)c:x2}" }) : sb.Append(c);
        }

        return sb.ToString();
    }
}
