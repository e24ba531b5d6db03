using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace AsyncUtils;

/// <summary>What <see cref="MapState{TSource, TResult}.TryTake"/> found.</summary>
internal enum TakeOutcome
{
    Taken,
    NoRoom,
    End,
}

/// <summary>
/// The shared state of one Map: the input enumerator (pulled lazily, one item per free lane, under
/// a lock) and the output: a bounded channel in completion order, or a ring of
/// <c>lookAhead</c> slots in input order.
/// </summary>
internal sealed class MapState<TSource, TResult> : IDisposable
{
    private readonly object _gate = new();
    private readonly IEnumerator<TSource> _source;
    private readonly Channel<MapResult<TSource, TResult>>? _channel;
    private readonly MapResult<TSource, TResult>[]? _ring;
    private readonly bool[]? _ready;
    private readonly CurrentContextExecutor _executor;
    private readonly CancellationTokenSource _stop;
    private long _next;
    private long _head;
    private bool _sourceDone;
    private int _lanesLeft;
    private Exception? _endError;
    private TaskCompletionSource? _consumerWaiter;
    private TaskCompletionSource? _roomWaiter;

    internal MapState(CurrentContextExecutor executor, IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, int lanes, int lookAhead, bool ordered, bool failFast, CancellationTokenSource stop)
    {
        _executor = executor;
        _source = source.GetEnumerator();
        Function = function;
        _stop = stop;
        Token = stop.Token;
        FailFast = failFast;
        _lanesLeft = lanes;
        if (ordered)
        {
            _ring = new MapResult<TSource, TResult>[lookAhead];
            _ready = new bool[lookAhead];
        }
        else
        {
            _channel = Channel.CreateBounded<MapResult<TSource, TResult>>(new BoundedChannelOptions(lookAhead)
            {
                SingleReader = true,
                AllowSynchronousContinuations = false,
            });
        }
    }

    internal Func<TSource, CancellationToken, Task<TResult>> Function { get; }

    internal CancellationToken Token { get; }

    internal bool Ordered => _ring is not null;

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
    internal ChannelReader<MapResult<TSource, TResult>> Reader => _channel!.Reader;

    /// <summary>Takes the next input item; never holds the lock while user code runs except the enumerator's MoveNext.</summary>
    internal TakeOutcome TryTake(out long index, out TSource item)
    {
        lock (_gate)
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

            if (_ring is not null && _next >= _head + _ring.Length)
            {
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
    }

    /// <summary>A task that completes when the ordered window has room; <see langword="null"/> if it has room now.</summary>
    internal Task? RoomTask()
    {
        lock (_gate)
        {
            if (_next < _head + _ring!.Length || _sourceDone || _endError is not null)
            {
                return null;
            }

            return (_roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Stores an ordered result; the window reserved its slot, so this never waits.</summary>
    internal void Store(in MapResult<TSource, TResult> result)
    {
        TaskCompletionSource? wake = null;
        lock (_gate)
        {
            int slot = (int)(result.Index % _ring!.Length);
            _ring[slot] = result;
            _ready![slot] = true;
            if (result.Index == _head)
            {
                wake = _consumerWaiter;
                _consumerWaiter = null;
            }
        }

        wake?.TrySetResult();
    }

    /// <summary>Writes an unordered result without waiting if the channel has room.</summary>
    internal bool TryWrite(in MapResult<TSource, TResult> result) => _channel!.Writer.TryWrite(result);

    internal ValueTask WriteAsync(MapResult<TSource, TResult> result) => _channel!.Writer.WriteAsync(result, Token);

    /// <summary>Called once by each lane as it ends; the last one completes the output.</summary>
    internal void LaneEnded()
    {
        TaskCompletionSource? wake = null;
        Exception? error;
        lock (_gate)
        {
            if (--_lanesLeft != 0)
            {
                return;
            }

            error = _endError;
            wake = _consumerWaiter;
            _consumerWaiter = null;
        }

        _channel?.Writer.TryComplete(error);
        wake?.TrySetResult();
    }

    /// <summary>Ordered output: the next result in input order, waiting for it if needed; <see langword="false"/> at the end.</summary>
    internal async ValueTask<(bool HasResult, MapResult<TSource, TResult> Result)> NextOrderedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            TaskCompletionSource? room = null;
            lock (_gate)
            {
                int slot = (int)(_head % _ring!.Length);
                if (_ready![slot])
                {
                    MapResult<TSource, TResult> result = _ring[slot];
                    _ring[slot] = default;
                    _ready[slot] = false;
                    _head++;
                    room = _roomWaiter;
                    _roomWaiter = null;
                    room?.TrySetResult();
                    return (true, result);
                }

                if (_lanesLeft == 0)
                {
                    if (_endError is not null)
                    {
                        ExceptionDispatchInfo.Throw(_endError);
                    }

                    return (false, default);
                }

                wait = (_consumerWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _source.Dispose();
}
