using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

/// <summary>
/// A source that counts its steps against the consumer's requests. The consumer calls
/// <see cref="Request"/> right before each <c>MoveNextAsync</c>; the source checks, at every step,
/// that it has not been asked for more than the consumer requested plus the prefetch.
/// </summary>
internal sealed class CountingSource(int length, int prefetch)
{
    private int _requests;
    private int _steps;

    public ConcurrentQueue<string> Violations { get; } = new();

    public int Steps => Volatile.Read(ref _steps);

    public bool FinallyRan { get; private set; }

    public int? SourceThreadId { get; private set; }

    public bool TokenWasCancelledInFinally { get; private set; }

    public void Request() => Interlocked.Increment(ref _requests);

    public IEnumerable<int> Run(CancellationToken cancellationToken)
    {
        SourceThreadId = Environment.CurrentManagedThreadId;
        try
        {
            for (int i = 0; i < length; i++)
            {
                int step = Interlocked.Increment(ref _steps);
                int requests = Volatile.Read(ref _requests);
                if (step > requests + prefetch)
                {
                    Violations.Enqueue($"step {step} began with only {requests} request(s) and prefetch {prefetch}");
                }

                yield return i;
            }
        }
        finally
        {
            TokenWasCancelledInFinally = cancellationToken.IsCancellationRequested;
            FinallyRan = true;
        }
    }
}
