namespace AsyncUtils;

/// <summary>One source of a merge's enumeration: its enumerator, its step in flight, and the cached completion callback.</summary>
/// <typeparam name="T">The item type.</typeparam>
internal sealed class MergeSource<T>
{
    private readonly MergeCore<T> _core;

    internal MergeSource(MergeCore<T> core, int index)
    {
        _core = core;
        Index = index;
        OnStepCompleted = StepCompleted;
    }

    internal int Index { get; }

    /// <summary>Allocated once per source, so waiting for a step allocates nothing.</summary>
    internal Action OnStepCompleted { get; }

    /// <summary>The source's enumerator; <see langword="null"/> before it was obtained and once it is disposed.</summary>
    internal IAsyncEnumerator<T>? Enumerator;

    /// <summary>The step in flight or finished and not yet read.</summary>
    internal ValueTask<bool> Step;

    /// <summary>What <c>GetAsyncEnumerator</c> or <c>MoveNextAsync</c> threw instead of returning.</summary>
    internal Exception? SyncFailure;

    private void StepCompleted() => _core.StepCompleted(this);
}
