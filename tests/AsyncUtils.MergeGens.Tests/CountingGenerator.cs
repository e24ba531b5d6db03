namespace AsyncUtils.Tests;

/// <summary>
/// An async generator that yields <c>start</c> .. <c>start + count - 1</c>, counting what it
/// produced, like the generators of the Python library async-utils' check that breaking out of a
/// merge does not over-consume.
/// </summary>
internal sealed class CountingGenerator(int start, int count, bool yieldToScheduler = false)
{
    private int _produced;

    public int Start => start;

    public int Produced => Volatile.Read(ref _produced);

    public bool FinallyRan { get; private set; }

    public bool Contains(int value) => value >= start && value < start + count;

    public async IAsyncEnumerable<int> Run([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            for (int value = start; value < start + count; value++)
            {
                if (yieldToScheduler)
                {
                    await Task.Yield();
                }

                cancellationToken.ThrowIfCancellationRequested();
                Interlocked.Increment(ref _produced);
                yield return value;
            }
        }
        finally
        {
            FinallyRan = true;
        }
    }
}
