namespace AsyncUtils.Scheduler;

/// <summary>
/// An in-memory scheduler of payloads (the seed's <c>Scheduler</c>, without its polling):
/// <see cref="Schedule(DateTimeOffset, T)"/> a payload for a time, and consumers that
/// <see langword="await"/> <see langword="foreach"/> over the scheduler receive each payload when
/// it is due.
/// </summary>
/// <remarks>
/// <para>
/// <b>Order.</b> Payloads are delivered in due-time order; payloads due at the same instant come
/// in the order they were scheduled. A payload that is already due when scheduled, or when a
/// consumer asks, comes at once. Each payload goes to exactly one consumer; waiting consumers
/// are served first come, first served.
/// </para>
/// <para>
/// <b>No polling.</b> One timer from the <see cref="TimeProvider"/> is armed for the earliest
/// pending payload, and only while a consumer is waiting; it is re-armed when an earlier payload
/// arrives. Due times beyond a single timer's ~49.7-day limit work: the timer is chained.
/// Due times are wall-clock (<see cref="TimeProvider.GetUtcNow"/>) and checked again whenever the
/// timer fires, so a payload is never delivered early.
/// </para>
/// <para>
/// <b>Cost.</b> Payloads sit in a binary heap whose entries know their own position, so
/// scheduling, cancelling and rescheduling are O(log n), and cancelling frees the payload at once
/// (not when its time would have come). A pending payload costs one small handle object and one
/// heap slot.
/// </para>
/// <para>
/// <b>Ending.</b> <see cref="Complete"/> refuses new payloads and ends every consumer's iteration
/// once the pending ones have been delivered or cancelled. <see cref="Dispose"/> ends it at once:
/// the timer is disposed, pending payloads are dropped (their state becomes
/// <see cref="ScheduledPayloadState.Cancelled"/>) and waiting consumers finish their iteration.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member may be called from any thread, and any number of consumers
/// may iterate at once. Consumers' continuations never run inside the scheduler's lock.
/// </para>
/// </remarks>
/// <typeparam name="T">The payload type.</typeparam>
public sealed class PayloadScheduler<T> : IAsyncEnumerable<T>, IDisposable
{
    /// <summary>The longest single timer period a TimeProvider timer accepts (2^32 - 2 ms, ~49.7 days).</summary>
    internal static readonly TimeSpan MaxTimerPeriod = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly TimeProvider _time;
    private ScheduledPayload<T>[] _heap = new ScheduledPayload<T>[16];
    private int _count;
    private long _sequence;
    private SchedulerEnumerator<T>? _firstWaiter;
    private SchedulerEnumerator<T>? _lastWaiter;
    private ITimer? _timer;
    private long _armedFor = long.MaxValue;
    private bool _completed;
    private bool _disposed;

    /// <summary>Creates an empty scheduler on the system clock.</summary>
    public PayloadScheduler()
        : this(null)
    {
    }

    /// <summary>Creates an empty scheduler.</summary>
    /// <param name="timeProvider">The clock and timer source; <see langword="null"/> uses <see cref="TimeProvider.System"/>.</param>
    public PayloadScheduler(TimeProvider? timeProvider)
    {
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The clock the scheduler uses.</summary>
    public TimeProvider TimeProvider => _time;

    /// <summary>The number of pending payloads (due or not yet due, not delivered, not cancelled).</summary>
    public int Count
    {
        get
        {
            lock (Gate)
            {
                return _count;
            }
        }
    }

    internal object Gate { get; } = new();

    /// <summary>Schedules a payload for an absolute time; O(log n).</summary>
    /// <param name="dueTime">When to deliver it; a time in the past delivers it at once.</param>
    /// <param name="payload">The payload.</param>
    /// <returns>The payload's handle, to cancel or reschedule it.</returns>
    /// <exception cref="InvalidOperationException"><see cref="Complete"/> was called.</exception>
    /// <exception cref="ObjectDisposedException">The scheduler is disposed.</exception>
    public ScheduledPayload<T> Schedule(DateTimeOffset dueTime, T payload) => Add(dueTime.UtcTicks, payload);

    /// <summary>Schedules a payload for <paramref name="delay"/> from now; O(log n).</summary>
    /// <param name="delay">The delay; zero or positive.</param>
    /// <param name="payload">The payload.</param>
    /// <returns>The payload's handle, to cancel or reschedule it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delay"/> is negative.</exception>
    /// <exception cref="InvalidOperationException"><see cref="Complete"/> was called.</exception>
    /// <exception cref="ObjectDisposedException">The scheduler is disposed.</exception>
    public ScheduledPayload<T> Schedule(TimeSpan delay, T payload) => Add(DueTicksAfter(delay), payload);

    /// <summary>
    /// Refuses new payloads; consumers' iterations end once every pending payload has been
    /// delivered or cancelled (at once if none is pending). Calling it again does nothing.
    /// </summary>
    public void Complete()
    {
        SchedulerEnumerator<T>? ended = null;
        lock (Gate)
        {
            _completed = true;
            if (_count == 0)
            {
                ended = TakeAllWaiters();
            }
        }

        EndAll(ended);
    }

    /// <summary>Returns an enumerator that waits for due payloads; each payload goes to exactly one enumerator.</summary>
    /// <param name="cancellationToken">Cancels a pending <c>MoveNextAsync</c> (it throws <see cref="OperationCanceledException"/>); a payload already handed over is kept.</param>
    /// <returns>The enumerator.</returns>
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new SchedulerEnumerator<T>(this, cancellationToken);

    /// <summary>Stops the timer, drops every pending payload and ends every consumer's iteration.</summary>
    public void Dispose()
    {
        SchedulerEnumerator<T>? ended;
        ITimer? timer;
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _completed = true;
            for (int i = 0; i < _count; i++)
            {
                ScheduledPayload<T> entry = _heap[i];
                entry.StateCore = ScheduledPayloadState.Cancelled;
                entry.HeapIndex = -1;
                entry.Payload = default!;
                _heap[i] = null!;
            }

            _count = 0;
            ended = TakeAllWaiters();
            timer = _timer;
            _timer = null;
        }

        timer?.Dispose();
        EndAll(ended);
    }

    internal long DueTicksAfter(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        long now = _time.GetUtcNow().UtcTicks;
        return delay.Ticks > DateTimeOffset.MaxValue.UtcTicks - now ? DateTimeOffset.MaxValue.UtcTicks : now + delay.Ticks;
    }

    internal bool Cancel(ScheduledPayload<T> entry)
    {
        SchedulerEnumerator<T>? ended = null;
        lock (Gate)
        {
            if (entry.StateCore != ScheduledPayloadState.Pending)
            {
                return false;
            }

            RemoveAt(entry.HeapIndex);
            entry.StateCore = ScheduledPayloadState.Cancelled;
            entry.Payload = default!;
            if (_completed && _count == 0)
            {
                ended = TakeAllWaiters();
            }
        }

        // A timer armed for the cancelled payload is left alone: it fires once, finds nothing
        // due and re-arms for whatever is earliest then.
        EndAll(ended);
        return true;
    }

    internal bool Reschedule(ScheduledPayload<T> entry, long dueTicks)
    {
        Delivery deliveries;
        lock (Gate)
        {
            if (entry.StateCore != ScheduledPayloadState.Pending)
            {
                return false;
            }

            entry.DueTicks = dueTicks;
            entry.Sequence = _sequence++;
            int index = entry.HeapIndex;
            if (!SiftUp(index))
            {
                SiftDown(index);
            }

            deliveries = Pump();
        }

        deliveries.Deliver();
        return true;
    }

    /// <summary>
    /// A consumer asks for the next payload: returns it at once when one is due and no consumer
    /// is queued ahead, ends when completed and empty, or queues the consumer.
    /// </summary>
    internal bool TryTakeOrWait(SchedulerEnumerator<T> consumer, out T payload, out bool ended)
    {
        payload = default!;
        ended = false;
        lock (Gate)
        {
            if (_firstWaiter is null && _count > 0 && _heap[0].DueTicks <= _time.GetUtcNow().UtcTicks)
            {
                payload = PopMin();
                if (_completed && _count == 0)
                {
                    // This was the last one; the consumers still waiting will see the end.
                    EndAllLater(TakeAllWaiters());
                }

                return true;
            }

            if (_count == 0 && _completed)
            {
                ended = true;
                return false;
            }

            consumer.Previous = _lastWaiter;
            consumer.Next = null;
            if (_lastWaiter is null)
            {
                _firstWaiter = consumer;
            }
            else
            {
                _lastWaiter.Next = consumer;
            }

            _lastWaiter = consumer;
            consumer.Queued = true;
            Arm(_time.GetUtcNow().UtcTicks);
            return false;
        }
    }

    /// <summary>A waiting consumer gave up; <see langword="true"/> when it was still queued (so nothing was handed to it).</summary>
    internal bool Withdraw(SchedulerEnumerator<T> consumer)
    {
        lock (Gate)
        {
            if (!consumer.Queued)
            {
                return false;
            }

            Unlink(consumer);
            return true;
        }
    }

    private static void EndAll(SchedulerEnumerator<T>? waiters)
    {
        while (waiters is not null)
        {
            SchedulerEnumerator<T>? next = waiters.Next;
            waiters.Next = null;
            waiters.End();
            waiters = next;
        }
    }

    private static void EndAllLater(SchedulerEnumerator<T>? waiters)
    {
        if (waiters is not null)
        {
            // Called under the lock; the waiters' continuations must run outside it.
            ThreadPool.UnsafeQueueUserWorkItem(static w => EndAll(w), waiters, preferLocal: false);
        }
    }

    private ScheduledPayload<T> Add(long dueTicks, T payload)
    {
        Delivery deliveries;
        ScheduledPayload<T> entry;
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_completed)
            {
                throw new InvalidOperationException("The scheduler was completed; it accepts no new payloads.");
            }

            entry = new ScheduledPayload<T>(this, payload, dueTicks, _sequence++);
            if (_count == _heap.Length)
            {
                Array.Resize(ref _heap, _heap.Length * 2);
            }

            _heap[_count] = entry;
            entry.HeapIndex = _count;
            _count++;
            SiftUp(entry.HeapIndex);
            deliveries = Pump();
        }

        deliveries.Deliver();
        return entry;
    }

    private void OnTimer()
    {
        Delivery deliveries;
        lock (Gate)
        {
            _armedFor = long.MaxValue;
            if (_disposed)
            {
                return;
            }

            deliveries = Pump();
        }

        deliveries.Deliver();
    }

    /// <summary>Under the lock: hands every due payload to a waiting consumer, then arms the timer for the next.</summary>
    private Delivery Pump()
    {
        var deliveries = default(Delivery);
        if (_firstWaiter is null || _count == 0)
        {
            return deliveries;
        }

        long now = _time.GetUtcNow().UtcTicks;
        while (_firstWaiter is not null && _count > 0 && _heap[0].DueTicks <= now)
        {
            SchedulerEnumerator<T> consumer = _firstWaiter;
            Unlink(consumer);
            deliveries.Add(consumer, PopMin());
        }

        if (_completed && _count == 0)
        {
            deliveries.Ended = TakeAllWaiters();
        }
        else
        {
            Arm(now);
        }

        return deliveries;
    }

    /// <summary>Under the lock: makes sure the timer fires by the earliest due time while a consumer waits.</summary>
    private void Arm(long now)
    {
        if (_firstWaiter is null || _count == 0)
        {
            return;
        }

        long due = _heap[0].DueTicks;
        if (due >= _armedFor)
        {
            return; // already armed early enough; a later fire re-arms for what is left
        }

        long delayTicks = Math.Max(0, due - now);

        // Whole milliseconds, rounded up, so the timer never fires before the payload is due.
        long ms = (delayTicks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
        TimeSpan delay = ms * TimeSpan.TicksPerMillisecond > MaxTimerPeriod.Ticks ? MaxTimerPeriod : TimeSpan.FromTicks(ms * TimeSpan.TicksPerMillisecond);
        _armedFor = delay == MaxTimerPeriod ? now + delay.Ticks : due;
        if (_timer is null)
        {
            _timer = _time.CreateTimer(static state => ((PayloadScheduler<T>)state!).OnTimer(), this, delay, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    private T PopMin()
    {
        ScheduledPayload<T> entry = _heap[0];
        RemoveAt(0);
        entry.StateCore = ScheduledPayloadState.Delivered;
        T payload = entry.Payload;
        entry.Payload = default!;
        return payload;
    }

    private void RemoveAt(int index)
    {
        ScheduledPayload<T> removed = _heap[index];
        int last = --_count;
        removed.HeapIndex = -1;
        if (index != last)
        {
            ScheduledPayload<T> moved = _heap[last];
            _heap[index] = moved;
            moved.HeapIndex = index;
            _heap[last] = null!;
            if (!SiftUp(index))
            {
                SiftDown(index);
            }
        }
        else
        {
            _heap[last] = null!;
        }
    }

    private static bool Before(ScheduledPayload<T> a, ScheduledPayload<T> b) =>
        a.DueTicks < b.DueTicks || (a.DueTicks == b.DueTicks && a.Sequence < b.Sequence);

    private bool SiftUp(int index)
    {
        ScheduledPayload<T> entry = _heap[index];
        int start = index;
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            ScheduledPayload<T> p = _heap[parent];
            if (!Before(entry, p))
            {
                break;
            }

            _heap[index] = p;
            p.HeapIndex = index;
            index = parent;
        }

        _heap[index] = entry;
        entry.HeapIndex = index;
        return index != start;
    }

    private void SiftDown(int index)
    {
        ScheduledPayload<T> entry = _heap[index];
        while (true)
        {
            int child = (2 * index) + 1;
            if (child >= _count)
            {
                break;
            }

            if (child + 1 < _count && Before(_heap[child + 1], _heap[child]))
            {
                child++;
            }

            ScheduledPayload<T> c = _heap[child];
            if (!Before(c, entry))
            {
                break;
            }

            _heap[index] = c;
            c.HeapIndex = index;
            index = child;
        }

        _heap[index] = entry;
        entry.HeapIndex = index;
    }

    private void Unlink(SchedulerEnumerator<T> consumer)
    {
        if (consumer.Previous is null)
        {
            _firstWaiter = consumer.Next;
        }
        else
        {
            consumer.Previous.Next = consumer.Next;
        }

        if (consumer.Next is null)
        {
            _lastWaiter = consumer.Previous;
        }
        else
        {
            consumer.Next.Previous = consumer.Previous;
        }

        consumer.Previous = consumer.Next = null;
        consumer.Queued = false;
    }

    /// <summary>Under the lock: detaches every waiting consumer, chained through <c>Next</c>.</summary>
    private SchedulerEnumerator<T>? TakeAllWaiters()
    {
        SchedulerEnumerator<T>? first = _firstWaiter;
        for (SchedulerEnumerator<T>? w = first; w is not null; w = w.Next)
        {
            w.Queued = false;
            w.Previous = null;
        }

        _firstWaiter = _lastWaiter = null;
        return first;
    }

    /// <summary>Payloads handed over under the lock, delivered after it is released.</summary>
    private struct Delivery
    {
        private SchedulerEnumerator<T>? _single;
        private T _singlePayload;
        private List<(SchedulerEnumerator<T> Consumer, T Payload)>? _more;

        internal SchedulerEnumerator<T>? Ended;

        internal void Add(SchedulerEnumerator<T> consumer, T payload)
        {
            if (_single is null)
            {
                _single = consumer;
                _singlePayload = payload;
            }
            else
            {
                (_more ??= []).Add((consumer, payload));
            }
        }

        internal readonly void Deliver()
        {
            _single?.Deliver(_singlePayload);
            if (_more is not null)
            {
                foreach ((SchedulerEnumerator<T> consumer, T payload) in _more)
                {
                    consumer.Deliver(payload);
                }
            }

            EndAll(Ended);
        }
    }
}
