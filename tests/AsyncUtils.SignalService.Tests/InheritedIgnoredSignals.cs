namespace AsyncUtils.Tests;

/// <summary>
/// Reads which signals this process inherited as ignored (SIG_IGN), from the <c>SigIgn</c> mask in
/// <c>/proc/self/status</c>. Child processes inherit the same mask, so a test that sends such a
/// signal to a child cannot pass and must say why instead.
/// </summary>
internal static class InheritedIgnoredSignals
{
    /// <summary>Whether <paramref name="signalNumber"/> is ignored in this process (false where /proc is absent).</summary>
    public static bool IsIgnored(int signalNumber)
    {
        const string StatusPath = "/proc/self/status";
        if (!File.Exists(StatusPath))
        {
            return false;
        }

        foreach (string line in File.ReadLines(StatusPath))
        {
            if (line.StartsWith("SigIgn:", StringComparison.Ordinal))
            {
                ulong mask = ulong.Parse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                return (mask & (1UL << (signalNumber - 1))) != 0;
            }
        }

        return false;
    }
}
