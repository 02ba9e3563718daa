using System.Diagnostics;

namespace SafeCkpt.Fuzz;

/// <summary>
/// Shrinks a finding's input while it stays in the same bucket, within a small budget: for a zip, whole records
/// and then ranges inside each record (the archive rebuilt each time, so it stays a valid zip); then ranges of
/// bytes, halving the range size down to one byte. "Minimized-ish": good enough to read, not a true minimum.
/// </summary>
internal static class Minimizer
{
    private const int MaxRuns = 400;
    private static readonly TimeSpan MaxTime = TimeSpan.FromSeconds(8);

    public static byte[] Shrink(byte[] input, string bucket, Target target)
    {
        var clock = Stopwatch.StartNew();
        int runs = 0;

        bool Still(byte[] candidate)
        {
            if (runs >= MaxRuns || clock.Elapsed > MaxTime)
            {
                return false;
            }

            runs++;
            return Oracles.Check(target.Run(candidate)).Any(f => f.Bucket == bucket);
        }

        byte[] current = input;
        if (ZipBox.TryRead(current) is { Count: > 0 } items)
        {
            for (int i = items.Count - 1; i >= 0; i--)
            {
                List<ZipItem> without = [.. items.Take(i), .. items.Skip(i + 1)];
                byte[] c = ZipBox.Write(without);
                if (Still(c))
                {
                    items = without;
                    current = c;
                }
            }

            for (int i = 0; i < items.Count; i++)
            {
                int index = i;
                byte[] data = ShrinkBytes(items[i].Data, d =>
                {
                    List<ZipItem> changed = [.. items];
                    changed[index] = changed[index] with { Data = d };
                    return Still(ZipBox.Write(changed));
                });
                items[i] = items[i] with { Data = data };
            }

            byte[] rebuilt = ZipBox.Write(items);
            if (rebuilt.Length < current.Length && Still(rebuilt))
            {
                current = rebuilt;
            }
        }

        return ShrinkBytes(current, Still);
    }

    private static byte[] ShrinkBytes(byte[] data, Func<byte[], bool> still)
    {
        for (int chunk = Math.Max(1, data.Length / 2); chunk >= 1; chunk /= 2)
        {
            int pos = 0;
            while (pos < data.Length)
            {
                int n = Math.Min(chunk, data.Length - pos);
                byte[] candidate = [.. data.AsSpan(0, pos), .. data.AsSpan(pos + n)];
                if (still(candidate))
                {
                    data = candidate;
                }
                else
                {
                    pos += n;
                }
            }

            if (chunk == 1)
            {
                break;
            }
        }

        return data;
    }
}
