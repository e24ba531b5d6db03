using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// A reusable, allocation-free one-shot signal for one waiter of a Map (a lane waiting for room,
/// or the consumer waiting for a result). <see cref="Reset"/> arms it, under the Map's lock,
/// before the waiter is recorded; whoever takes the waiter out of the record calls
/// <see cref="Set"/> once, outside the lock. Continuations never run inline.
/// </summary>
internal sealed class MapSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

    /// <summary>Set by a waker that woke this lane to refill the window; cleared by the lane under the Map's lock.</summary>
    internal bool Woken;

    internal void Reset() => _core.Reset();

    internal void Set() => _core.SetResult(true);

    internal ValueTask WaitAsync() => new(this, _core.Version);

    /// <inheritdoc/>
    public void GetResult(short token) => _core.GetResult(token);

    /// <inheritdoc/>
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc/>
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
