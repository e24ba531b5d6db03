namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.CoroutineCache</c> meter and its instruments (see <see cref="CacheInstruments"/>),
/// created when the first cache is (not at assembly load).
/// </summary>
internal static class CoroutineCacheMetrics
{
    internal const string MeterName = "AsyncUtils.CoroutineCache";

    internal static readonly CacheInstruments Instruments = new(MeterName);
}
