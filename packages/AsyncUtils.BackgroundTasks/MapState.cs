using System.Runtime.ExceptionServices;

namespace AsyncUtils;

/// <summary>What <see cref="MapState{TSource, TResult}.StoreAndTake"/> found.</summary>
internal enum TakeOutcome
{
    Taken,
    NoRoom,
    End,
}

/// <summary>
/// The shared state of one Map, under one lock: the input enumerator (pulled lazily, one item at a
/// time by whichever lane asks) and a ring of <c>window</c> results, in completion order (a queue)
/// or in input order (slot = index mod window). An item is taken only while fewer than
/// <c>window</c> items are taken and not yet consumed (running or waiting), so memory is
/// O(window) whatever the input's length.
/// </summary>
/// <remarks>
/// Per item a lane takes the lock once (store the last result and take the next item) and the
/// consumer once. Nothing is allocated per item: a lane that finds no room parks on its own
/// reusable <see cref="MapSignal"/>, and the consumer on another. A parked lane is woken one at
/// a time, when the consumer has drained half the window (or a woken lane's call goes
/// asynchronous, handing on the baton), so a fast lane refills the window alone rather than
/// every lane hopping through the thread pool for one item each.
/// </remarks>
internal sealed class MapState<TSource, TResult> : IDisposable
{
    private readonly object _gate = new();
    private readonly IEnumerator<TSource> _source;
    private readonly MapResult<TSource, TResult>[] _ring;
    private readonly bool[]? _ready;
    private readonly int _window;
    private readonly CurrentContextExecutor _executor;
    private readonly CancellationTokenSource _stop;
    private readonly MapSignal _consumer = new();
    private readonly Stack<MapSignal> _parked = new();
    private readonly CancellationTokenRegistration _stopRegistration;
    private long _next;
    private long _consumed;
    private int _ringHead;
    private int _ringCount;
    private bool _sourceDone;
    private bool _consumerWaiting;
    private bool _waking;
    private int _lanesLeft;
    private Exception? _endError;

    internal MapState(CurrentContextExecutor executor, IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, int lanes, int window, bool ordered, bool failFast, CancellationTokenSource stop)
    {
        _executor = executor;
        _source = source.GetEnumerator();
        Function = function;
        _stop = stop;
        Token = stop.Token;
        FailFast = failFast;
        Ordered = ordered;
        _lanesLeft = lanes;
        _window = window;
        _ring = new MapResult<TSource, TResult>[window];
        _ready = ordered ? new bool[window] : null;

        // Stopping (early end, cancellation, shutdown, fail-fast) wakes every parked lane and the consumer.
        _stopRegistration = Token.UnsafeRegister(static state => ((MapState<TSource, TResult>)state!).WakeAll(), this);
    }

    internal Func<TSource, CancellationToken, Task<TResult>> Function { get; }

    internal CancellationToken Token { get; }

    internal bool Ordered { get; }

    /// <summary>Whether the first failing item ends the Map (see <see cref="Fail"/>).</summary>
    internal bool FailFast { get; }

    /// <summary>Fail-fast: whether the Map is ending, so a finished item's result is dropped rather than handed on.</summary>
    internal bool Ending
    {
        get
        {
            lock (_gate)
            {
                return _endError is not null || Token.IsCancellationRequested;
            }
        }
    }

    /// <summary>
    /// Fail-fast: an item failed. The first failure while the Map is still running becomes the
    /// Map's end error (no new item is taken) and cancels the token of the calls still running;
    /// any later failure, or one after the iteration stopped or the executor shut down, is dropped.
    /// </summary>
    internal void Fail(Exception failure)
    {
        lock (_gate)
        {
            if (_endError is not null || Token.IsCancellationRequested)
            {
                return;
            }

            _endError = failure;
        }

        try
        {
            // Outside the lock: the token's registrations are the running calls' code.
            _stop.Cancel();
        }
        catch (AggregateException)
        {
            // A registration of a running call threw; the call itself sees its token cancelled,
            // and the Map still ends with the first failure.
        }
    }

    /// <summary>
    /// A lane's step, under one lock: stores its last result (if <paramref name="hasResult"/>),
    /// then takes the next input item. Never holds the lock while user code runs except the
    /// enumerator's MoveNext. On <see cref="TakeOutcome.NoRoom"/> the lane is parked on
    /// <paramref name="lane"/> and must give its slot back and await it.
    /// </summary>
    internal TakeOutcome StoreAndTake(bool hasResult, in MapResult<TSource, TResult> result, MapSignal lane, out long index, out TSource item)
    {
        index = 0;
        item = default!;
        bool wakeConsumer = false;
        TakeOutcome outcome;
        lock (_gate)
        {
            if (lane.Woken)
            {
                lane.Woken = false;
                _waking = false;
            }

            if (hasResult)
            {
                if (_ready is not null)
                {
                    int slot = (int)(result.Index % _window);
                    _ring[slot] = result;
                    _ready[slot] = true;
                    wakeConsumer = _consumerWaiting && result.Index == _consumed;
                }
                else
                {
                    int slot = _ringHead + _ringCount;
                    _ring[slot >= _window ? slot - _window : slot] = result;
                    _ringCount++;
                    wakeConsumer = _consumerWaiting;
                }

                if (wakeConsumer)
                {
                    _consumerWaiting = false;
                }
            }

            outcome = TakeLocked(lane, out index, out item);
        }

        if (wakeConsumer)
        {
            _consumer.Set();
        }

        if (outcome == TakeOutcome.End)
        {
            // No lane takes anything any more: the parked ones must wake to end.
            WakeAll();
        }

        return outcome;
    }

    /// <summary>
    /// The lane's call did not complete at once: if lanes are parked and the window has room, wake
    /// one, so slow calls still run as many at a time as the window allows.
    /// </summary>
    internal void CallWentAsync()
    {
        MapSignal? wake;
        lock (_gate)
        {
            wake = PopLaneToRefillLocked(_window - 1);
        }

        wake?.Set();
    }

    /// <summary>
    /// The consumer's step: the next result (in completion or input order) without waiting, if
    /// there is one. Otherwise either the Map has ended (<paramref name="ended"/>; an end error is
    /// thrown) or the consumer is now recorded as waiting and must await <see cref="WaitAsync"/>.
    /// </summary>
    internal bool TryNext(out MapResult<TSource, TResult> result, out bool ended)
    {
        MapSignal? wake;
        bool got;
        lock (_gate)
        {
            ended = false;
            if (_ready is not null)
            {
                int slot = (int)(_consumed % _window);
                got = _ready[slot];
                if (got)
                {
                    result = _ring[slot];
                    _ring[slot] = default;
                    _ready[slot] = false;
                }
                else
                {
                    result = default;
                }
            }
            else
            {
                got = _ringCount != 0;
                if (got)
                {
                    result = _ring[_ringHead];
                    _ring[_ringHead] = default;
                    _ringHead = _ringHead + 1 == _window ? 0 : _ringHead + 1;
                    _ringCount--;
                }
                else
                {
                    result = default;
                }
            }

            if (got)
            {
                _consumed++;

                // Refill once half the window has drained: one lane refills it, not one hop per item.
                wake = PopLaneToRefillLocked(_window / 2);
            }
            else if (_lanesLeft == 0)
            {
                ended = true;
                if (_endError is not null)
                {
                    ExceptionDispatchInfo.Throw(_endError);
                }

                return false;
            }
            else
            {
                _consumer.Reset();
                _consumerWaiting = true;
                wake = PopLaneToRefillLocked(_window - 1);
            }
        }

        wake?.Set();
        return got;
    }

    /// <summary>Completes when a result may be available or the Map ended; after <see cref="TryNext"/> recorded the consumer as waiting.</summary>
    internal ValueTask WaitAsync() => _consumer.WaitAsync();

    /// <summary>Called once by each lane as it ends; the last one wakes the consumer to see the end.</summary>
    internal void LaneEnded()
    {
        bool wake;
        lock (_gate)
        {
            if (--_lanesLeft != 0)
            {
                return;
            }

            wake = _consumerWaiting;
            _consumerWaiting = false;
        }

        if (wake)
        {
            _consumer.Set();
        }
    }

    public void Dispose()
    {
        _stopRegistration.Dispose();
        _source.Dispose();
    }

    private TakeOutcome TakeLocked(MapSignal lane, out long index, out TSource item)
    {
        index = 0;
        item = default!;
        if (_sourceDone || _endError is not null)
        {
            return TakeOutcome.End;
        }

        if (Token.IsCancellationRequested || _executor.IsClosed)
        {
            _endError ??= Token.IsCancellationRequested && !_executor.IsClosed
                ? new OperationCanceledException(Token)
                : new ObjectDisposedException(nameof(CurrentContextExecutor), "The executor was closed while the Map was running; items not yet started were not run.");
            return TakeOutcome.End;
        }

        if (_next - _consumed >= _window)
        {
            lane.Reset();
            _parked.Push(lane);
            return TakeOutcome.NoRoom;
        }

        try
        {
            if (!_source.MoveNext())
            {
                _sourceDone = true;
                return TakeOutcome.End;
            }

            item = _source.Current;
        }
        catch (Exception ex)
        {
            _endError = ex;
            return TakeOutcome.End;
        }

        index = _next++;
        return TakeOutcome.Taken;
    }

    /// <summary>Takes one parked lane out to refill the window, if none is already on its way and at most <paramref name="atMost"/> items are outstanding.</summary>
    private MapSignal? PopLaneToRefillLocked(long atMost)
    {
        if (_waking || _parked.Count == 0 || _next - _consumed > atMost)
        {
            return null;
        }

        MapSignal lane = _parked.Pop();
        lane.Woken = true;
        _waking = true;
        return lane;
    }

    /// <summary>Wakes every parked lane and the consumer; outside the lock.</summary>
    private void WakeAll()
    {
        MapSignal[] lanes;
        bool consumer;
        lock (_gate)
        {
            lanes = _parked.Count == 0 ? [] : _parked.ToArray();
            _parked.Clear();
            consumer = _consumerWaiting;
            _consumerWaiting = false;
        }

        foreach (MapSignal lane in lanes)
        {
            lane.Set();
        }

        if (consumer)
        {
            _consumer.Set();
        }
    }
}
