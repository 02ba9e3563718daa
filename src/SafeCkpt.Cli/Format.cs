using System.Globalization;

namespace SafeCkpt.Cli;

/// <summary>Number and size formatting for people.</summary>
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
}
