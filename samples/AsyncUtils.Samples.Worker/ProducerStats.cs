namespace AsyncUtils.Samples.Worker;

/// <summary>How many records the producers have put (accepted by the waterfall).</summary>
internal sealed class ProducerStats
{
    private long _put;

    public long Put => Interlocked.Read(ref _put);

    public void Count() => Interlocked.Increment(ref _put);
}
