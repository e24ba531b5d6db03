namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.TaskCache</c> meter and its instruments (see <see cref="CacheInstruments"/>),
/// created when the first cache is (not at assembly load).
/// </summary>
internal static class TaskCacheMetrics
{
    internal const string MeterName = "AsyncUtils.TaskCache";

    internal static readonly CacheInstruments Instruments = new(MeterName);
}
