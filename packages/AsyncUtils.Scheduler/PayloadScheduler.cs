namespace AsyncUtils;

/// <summary>
/// An in-memory scheduler of payloads (the <c>Scheduler</c> of the Python library async-utils, without its polling):
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
/// heap slot. The heap array halves whenever it is less than a quarter full (down to 16 slots),
/// so memory follows the number of pending payloads, not their peak.
/// </para>
/// <para>
/// <b>Ending.</b> <see cref="Complete"/> refuses new payloads and ends every consumer's iteration
/// once the pending ones have been delivered or cancelled. <see cref="Dispose"/> ends it at once:
/// the timer is disposed, pending payloads are dropped (their state becomes
/// <see cref="ScheduledPayloadState.Cancelled"/>) and waiting consumers finish their iteration.
/// <see cref="JoinAsync"/> waits until every payload scheduled before it was delivered or cancelled.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member may be called from any thread, and any number of consumers
/// may iterate at once. Consumers' continuations never run inside the scheduler's lock.
/// </para>
/// <para>
/// <b>Metrics.</b> The <c>AsyncUtils.Scheduler</c> meter publishes <c>asyncutils.scheduler.pending</c>
/// (observable: <see cref="Count"/>, read only when a listener collects) and
/// <c>asyncutils.scheduler.lateness</c> (histogram, seconds after the due time at which each payload
/// was handed to a consumer, recorded only while a listener is subscribed), tagged
/// <c>asyncutils.scheduler.name</c> with <see cref="Name"/> when it is set. A listener that throws
/// is ignored.
/// </para>
/// </remarks>
/// <typeparam name="T">The payload type.</typeparam>
public sealed class PayloadScheduler<T> : IAsyncEnumerable<T>, IDisposable, ISchedulerMetricsSource
{
    /// <summary>The longest single timer period a TimeProvider timer accepts (2^32 - 2 ms, ~49.7 days).</summary>
    internal static readonly TimeSpan MaxTimerPeriod = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>The heap array never shrinks below this many slots.</summary>
    private const int MinCapacity = 16;

    private readonly TimeProvider _time;
    private readonly string? _name;
    private ScheduledPayload<T>[] _heap = new ScheduledPayload<T>[MinCapacity];
    private int _count;
    private long _sequence;
    private long _admitted;
    private List<Joiner>? _joiners;
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
        : this(timeProvider, null)
    {
    }

    /// <summary>Creates an empty scheduler with a name for its metrics.</summary>
    /// <param name="timeProvider">The clock and timer source; <see langword="null"/> uses <see cref="TimeProvider.System"/>.</param>
    /// <param name="name">The <c>asyncutils.scheduler.name</c> tag of this scheduler's metrics; <see langword="null"/> for none.</param>
    public PayloadScheduler(TimeProvider? timeProvider, string? name)
    {
        _time = timeProvider ?? TimeProvider.System;
        _name = name;
        SchedulerMetrics.Instances.Add(this);
    }

    /// <summary>The clock the scheduler uses.</summary>
    public TimeProvider TimeProvider => _time;

    /// <summary>
    /// The name given to the constructor, added as the <c>asyncutils.scheduler.name</c> tag to this
    /// scheduler's metrics so that several schedulers can be told apart; <see langword="null"/> for none.
    /// </summary>
    public string? Name => _name;

    /// <inheritdoc/>
    long ISchedulerMetricsSource.PendingForMetrics => Count;

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

    /// <summary>How many times a join's cancellation callback ran (tests: a leaked registration shows up here).</summary>
    internal int JoinCancellationCallbacks;

    /// <summary>The number of joins waiting (tests: a cancelled or completed join leaves nothing behind).</summary>
    internal int WaitingJoins
    {
        get
        {
            lock (Gate)
            {
                return _joiners?.Count ?? 0;
            }
        }
    }

    /// <summary>The length of the heap array (tests: it shrinks when mostly empty).</summary>
    internal int Capacity
    {
        get
        {
            lock (Gate)
            {
                return _heap.Length;
            }
        }
    }

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

    /// <summary>
    /// Waits until every payload scheduled before this call has been delivered to a consumer or
    /// cancelled (the <c>join()</c> of the Python library async-utils).
    /// </summary>
    /// <remarks>
    /// <para>
    /// The payloads waited for are those pending when the call is made, and only those: a payload
    /// scheduled afterwards does not delay the returned task, even if it is due earlier, so a steady
    /// stream of new payloads cannot keep a join waiting forever. A payload waited for that is
    /// rescheduled is still waited for, at its new time. "Delivered" means handed to a consumer by
    /// its <c>MoveNextAsync</c>, not that the consumer finished with it; a payload that is due but
    /// not yet taken by any consumer is still waited for.
    /// </para>
    /// <para>
    /// With nothing pending the task is already complete. <see cref="Dispose"/> cancels the pending
    /// payloads and so completes every join; <see cref="Complete"/> does not by itself. Cancelling
    /// <paramref name="cancellationToken"/> ends only this wait (the task is cancelled); the
    /// payloads and other joins are unaffected. Costs O(1) per call and, while joins are waiting,
    /// O(number of waiting joins) per delivery or cancellation; nothing when none waits.
    /// </para>
    /// </remarks>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the payloads pending at the call are all delivered or cancelled.</returns>
    public Task JoinAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        Joiner joiner;
        lock (Gate)
        {
            if (_count == 0)
            {
                return Task.CompletedTask;
            }

            // Every pending payload was admitted before _admitted: the join waits for exactly those.
            joiner = new Joiner(this, _admitted, _count, cancellationToken);
            (_joiners ??= []).Add(joiner);
        }

        if (cancellationToken.CanBeCanceled)
        {
            CancellationTokenRegistration registration = cancellationToken.UnsafeRegister(static state => ((Joiner)state!).OnCancelled(), joiner);
            bool kept;
            lock (Gate)
            {
                kept = !joiner.Done;
                if (kept)
                {
                    joiner.Registration = registration;
                }
            }

            if (!kept)
            {
                // Completed or cancelled before the registration existed: nobody else will dispose it.
                registration.Dispose();
            }
        }

        return joiner.Completion.Task;
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
            }

            _heap = [];
            _count = 0;
            if (_joiners is { } joiners)
            {
                // Every pending payload was just cancelled: every join is satisfied.
                _joiners = null;
                foreach (Joiner joiner in joiners)
                {
                    joiner.Complete();
                }
            }

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
            Settle(entry);
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
        long lateTicks = 0;
        bool measure = false;
        lock (Gate)
        {
            if (_firstWaiter is null && _count > 0 && TryTakeDueLocked(out payload, out lateTicks, out measure))
            {
                if (_completed && _count == 0)
                {
                    // This was the last one; the consumers still waiting will see the end.
                    EndAllLater(TakeAllWaiters());
                }
            }
            else
            {
                return WaitLocked(consumer, out ended);
            }
        }

        if (measure)
        {
            SchedulerMetrics.RecordLateness(lateTicks, _name);
        }

        return true;
    }

    /// <summary>Under the lock: pops the earliest payload if it is due, noting its lateness when a listener wants it.</summary>
    private bool TryTakeDueLocked(out T payload, out long lateTicks, out bool measure)
    {
        long now = _time.GetUtcNow().UtcTicks;
        long due = _heap[0].DueTicks;
        if (due > now)
        {
            payload = default!;
            lateTicks = 0;
            measure = false;
            return false;
        }

        measure = SchedulerMetrics.Lateness.Enabled;
        lateTicks = now - due;
        payload = PopMin();
        return true;
    }

    /// <summary>Under the lock: nothing is due for this consumer; ends its iteration or queues it.</summary>
    private bool WaitLocked(SchedulerEnumerator<T> consumer, out bool ended)
    {
        ended = false;
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

            entry = new ScheduledPayload<T>(this, payload, dueTicks, _sequence++) { Admission = _admitted++ };
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
        if (_firstWaiter is not null && _heap[0].DueTicks <= now && SchedulerMetrics.Lateness.Enabled)
        {
            deliveries.Measure(now, _name);
        }

        while (_firstWaiter is not null && _count > 0 && _heap[0].DueTicks <= now)
        {
            SchedulerEnumerator<T> consumer = _firstWaiter;
            Unlink(consumer);
            long due = _heap[0].DueTicks;
            deliveries.Add(consumer, PopMin(), due);
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
        Settle(entry);
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

        if (_count < _heap.Length / 4 && _heap.Length > MinCapacity)
        {
            Shrink();
        }
    }

    /// <summary>
    /// Halves the heap array once it is less than a quarter full, so that a burst of payloads does
    /// not pin its peak memory after they are delivered or cancelled. Halving at a quarter (not at
    /// a half) leaves room to grow again without resizing back and forth: amortized O(1).
    /// </summary>
    private void Shrink()
    {
        var smaller = new ScheduledPayload<T>[Math.Max(MinCapacity, _heap.Length / 2)];
        Array.Copy(_heap, smaller, _count);
        _heap = smaller;
    }

    /// <summary>
    /// Under the lock: a payload left the scheduler (delivered or cancelled). Every join made after it
    /// was scheduled has one payload fewer to wait for. Joins are in the order they were made, so
    /// their admission marks only grow: those that counted this payload are a suffix of the list.
    /// </summary>
    private void Settle(ScheduledPayload<T> entry)
    {
        if (_joiners is not { } joiners)
        {
            return;
        }

        for (int i = joiners.Count - 1; i >= 0; i--)
        {
            Joiner joiner = joiners[i];
            if (joiner.Target <= entry.Admission)
            {
                break;
            }

            if (--joiner.Remaining == 0)
            {
                joiners.RemoveAt(i);
                joiner.Complete();
            }
        }

        if (joiners.Count == 0)
        {
            _joiners = null;
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

    /// <summary>One <see cref="JoinAsync"/> waiting: how many of the payloads pending at its call are still pending.</summary>
    private sealed class Joiner(PayloadScheduler<T> scheduler, long target, int remaining, CancellationToken cancellationToken)
    {
        /// <summary>Continuations run on the thread pool, never inside the scheduler's lock.</summary>
        internal readonly TaskCompletionSource Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The payloads admitted before this mark are the ones waited for.</summary>
        internal readonly long Target = target;

        /// <summary>Under the lock: how many of them are still pending.</summary>
        internal int Remaining = remaining;

        /// <summary>Under the lock: completed or cancelled.</summary>
        internal bool Done;

        /// <summary>Under the lock: the registration on the caller's token, once it exists.</summary>
        internal CancellationTokenRegistration Registration;

        /// <summary>Under the lock: the wait is over. Unregister does not wait for a running callback, so it is safe under the lock.</summary>
        internal void Complete()
        {
            Done = true;
            Registration.Unregister();
            Registration = default;
            Completion.TrySetResult();
        }

        internal void OnCancelled()
        {
            Interlocked.Increment(ref scheduler.JoinCancellationCallbacks);
            lock (scheduler.Gate)
            {
                if (Done)
                {
                    return;
                }

                Done = true;
                Registration = default; // it is the one running this callback
                scheduler._joiners!.Remove(this);
                if (scheduler._joiners.Count == 0)
                {
                    scheduler._joiners = null;
                }
            }

            Completion.TrySetCanceled(cancellationToken);
        }
    }

    /// <summary>
    /// Payloads handed over under the lock, delivered after it is released. When a listener wants
    /// lateness, it is recorded here too, after the lock.
    /// </summary>
    private struct Delivery
    {
        private SchedulerEnumerator<T>? _single;
        private T _singlePayload;
        private long _singleDue;
        private List<(SchedulerEnumerator<T> Consumer, T Payload, long Due)>? _more;
        private bool _measure;
        private long _now;
        private string? _name;

        internal SchedulerEnumerator<T>? Ended;

        /// <summary>Under the lock: the lateness of these deliveries is to be recorded, against <paramref name="now"/>.</summary>
        internal void Measure(long now, string? name)
        {
            _measure = true;
            _now = now;
            _name = name;
        }

        internal void Add(SchedulerEnumerator<T> consumer, T payload, long due)
        {
            if (_single is null)
            {
                _single = consumer;
                _singlePayload = payload;
                _singleDue = due;
            }
            else
            {
                (_more ??= []).Add((consumer, payload, due));
            }
        }

        internal readonly void Deliver()
        {
            if (_single is not null)
            {
                _single.Deliver(_singlePayload);
                if (_measure)
                {
                    SchedulerMetrics.RecordLateness(_now - _singleDue, _name);
                }
            }

            if (_more is not null)
            {
                foreach ((SchedulerEnumerator<T> consumer, T payload, long due) in _more)
                {
                    consumer.Deliver(payload);
                    if (_measure)
                    {
                        SchedulerMetrics.RecordLateness(_now - due, _name);
                    }
                }
            }

            EndAll(Ended);
        }
    }
}
