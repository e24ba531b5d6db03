namespace AsyncUtils.Samples.Worker;

/// <summary>One record a producer puts.</summary>
internal sealed record Record(int Producer, long Sequence, DateTimeOffset PutAt);
