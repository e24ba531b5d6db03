namespace AsyncUtils.Samples.Worker;

/// <summary>What the API fetcher sent and got.</summary>
internal sealed class ApiStats
{
    private long _sent;
    private long _fetched;
    private long _tooMany;

    public long SentCount => Interlocked.Read(ref _sent);

    public long FetchedCount => Interlocked.Read(ref _fetched);

    public long TooManyCount => Interlocked.Read(ref _tooMany);

    public void Sent() => Interlocked.Increment(ref _sent);

    public void Fetched() => Interlocked.Increment(ref _fetched);

    public void TooMany() => Interlocked.Increment(ref _tooMany);
}
