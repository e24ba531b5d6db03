using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>One grant in the sliding log: when it happened and how many permits it took.</summary>
/// <remarks>Grants made at the same timestamp share one entry, so the log never holds more entries than permits.</remarks>
[StructLayout(LayoutKind.Auto)]
internal struct LogEntry
{
    internal LogEntry(long timestamp, int count)
    {
        Timestamp = timestamp;
        Count = count;
    }

    /// <summary>The grant's timestamp, in <see cref="TimeProvider.GetTimestamp"/> units.</summary>
    internal long Timestamp;

    /// <summary>The permits granted at <see cref="Timestamp"/>; lowered when a grant is handed back.</summary>
    internal int Count;
}
