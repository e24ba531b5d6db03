using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

/// <summary>Records every batch a waterfall delivers and lets a test wait (bounded) for them.</summary>
internal sealed class BatchRecorder<T> : IDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _delivered = new(0);

    public ConcurrentQueue<IReadOnlyList<T>> Batches { get; } = new();

    public Func<IReadOnlyList<T>, CancellationToken, ValueTask>? Inner { get; init; }

    public ValueTask Callback(IReadOnlyList<T> batch, CancellationToken cancellationToken)
    {
        Batches.Enqueue(batch);
        try
        {
            // The inner callback's synchronous part runs before the batch counts as delivered,
            // so a test that waited for a delivery also sees what the callback did first.
            return Inner?.Invoke(batch, cancellationToken) ?? ValueTask.CompletedTask;
        }
        finally
        {
            _delivered.Release();
        }
    }

    /// <summary>Waits until <paramref name="count"/> more batches have been delivered since the last wait.</summary>
    public async Task WaitForAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (!await _delivered.WaitAsync(Bound))
            {
                throw new TimeoutException($"only {i} of {count} batches arrived within {Bound}");
            }
        }
    }

    public List<T> Items() => Batches.SelectMany(b => b).ToList();

    public void Dispose() => _delivered.Dispose();
}
