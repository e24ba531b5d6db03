using System.Diagnostics.CodeAnalysis;

namespace AsyncUtils;

/// <summary>
/// A blocked putter or taker: the thread waits on an event (which spins briefly before it
/// sleeps). One waiter is cached per thread and item type; a nested wait on the same thread
/// (possible when a wait pumps messages) simply gets a new one.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "Reused for the thread's lifetime; the event's kernel handle, if any, is released by its finalizer.")]
internal sealed class BlockingWaiter<TValue> : Waiter<TValue>
{
    [ThreadStatic]
    private static BlockingWaiter<TValue>? t_cached;

    // Never disposed: it is reused for the thread's lifetime, and its kernel event, created only
    // if a wait outlasts the spin, is released by its own finalizer.
    private readonly ManualResetEventSlim _event = new(false);

    internal static BlockingWaiter<TValue> Rent()
    {
        BlockingWaiter<TValue>? waiter = t_cached;
        if (waiter is null)
        {
            return new BlockingWaiter<TValue>();
        }

        t_cached = null;
        return waiter;
    }

    internal void Return()
    {
        _event.Reset();
        Value = default!;
        Error = null;
        Status = WaitStatus.Waiting;
        t_cached = this;
    }

    internal override void Signal() => _event.Set();

    /// <summary>Waits for <see cref="Signal"/>; false on timeout; throws when the token is cancelled.</summary>
    internal bool Wait(TimeSpan timeout, CancellationToken cancellationToken) => _event.Wait(timeout, cancellationToken);

    /// <summary>Waits for a signal that is certain to come: someone else removed the waiter and is about to signal it.</summary>
    internal void WaitForSignal() => _event.Wait();
}
