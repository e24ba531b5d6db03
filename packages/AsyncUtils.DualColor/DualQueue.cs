using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace AsyncUtils;

/// <summary>
/// A first-in, first-out queue that blocking threads and async tasks can use at the same time: each put and
/// take comes blocking (with a timeout and a <see cref="CancellationToken"/>), async
/// (a <see cref="ValueTask"/> with a <see cref="CancellationToken"/>) and try-now, and any mix of
/// them works on the same queue. Optionally bounded, with a <see cref="QueueFullMode"/>; completes
/// like a channel. The rendering of <c>dual_color.Queue</c> from the Python library async-utils.
/// </summary>
/// <remarks>
/// <para>
/// <b>Thread safety.</b> Every member may be called from any number of threads and tasks at once.
/// Each operation takes one short lock; no thread ever blocks, and no continuation or callback
/// runs, while that lock is held.
/// </para>
/// <para>
/// <b>Order.</b> Items are taken in the order they went in. Waiters are served fairly across colors: takers wait in one
/// first-in, first-out line whether they block or await, and so do putters, so a blocked thread
/// and an awaiting task are served in the order they began waiting. A put while takers wait hands
/// its item straight to the oldest taker; a take from a full queue while putters wait lets the
/// oldest putter's item in. Try-now calls never jump that line.
/// </para>
/// <para>
/// <b>Async continuations</b> never run inline on the thread that put or took: a completed
/// <see cref="PutAsync"/>/<see cref="TakeAsync"/> resumes on the thread pool (or the awaiter's
/// context), so a blocking producer is never hijacked by a consumer's code.
/// </para>
/// <para>
/// <b>Cancellation and timeouts.</b> A wait that is cancelled or times out leaves the line and
/// changes nothing else. If an item was handed to a taker at the same moment, the hand-off wins:
/// the taker returns the item instead of throwing, so a cancelled take never swallows an item;
/// likewise a putter whose item went in returns normally.
/// </para>
/// <para>
/// <b>Completion.</b> After <see cref="Complete"/> or <see cref="TryComplete"/> (with or without an
/// error), puts fail with <see cref="QueueCompletedException"/> (try forms return
/// <see langword="false"/>), waiting putters fail the same way, items still in the queue can be
/// taken, and once it is empty every waiting and future take, blocking or async, ends with
/// <see cref="QueueCompletedException"/> whose <see cref="Exception.InnerException"/> is the error,
/// if one was given; <see cref="ReadAllAsync"/> and <see cref="GetConsumingEnumerable"/> end (or
/// throw that exception when there was an error). <see cref="Completion"/> finishes then.
/// An <see cref="OperationCanceledException"/> as the error means the producer stopped because it
/// was cancelled, and is treated as a channel treats it: every call above that would throw
/// <see cref="QueueCompletedException"/> throws that exception itself (an async call ends
/// Canceled), and <see cref="Completion"/> ends Canceled.
/// </para>
/// <para>
/// <b>Cost.</b> O(1) per operation. Try-now and non-waiting operations allocate nothing;
/// async waits use pooled waiters (a <see cref="ValueTask"/> must be awaited once, as usual);
/// a blocking wait reuses one event per thread, spinning briefly before it sleeps.
/// </para>
/// <para>
/// <b>Metrics.</b> The <c>AsyncUtils.DualColor</c> meter publishes <c>asyncutils.queue.depth</c>
/// and <c>asyncutils.queue.waiters</c> (observable, read only when a listener collects) and
/// <c>asyncutils.queue.wait.duration</c> (how long a put or take that had to wait waited, measured
/// only while a listener is subscribed), tagged <c>asyncutils.queue.name</c> with
/// <see cref="DualQueueOptions{T}.Name"/> when it is set. A listener that throws is ignored.
/// </para>
/// </remarks>
/// <typeparam name="T">The item type.</typeparam>
[SuppressMessage("Naming", "CA1711", Justification = "It is a queue, named like ConcurrentQueue and PriorityQueue.")]
public sealed class DualQueue<T>
{
    private readonly DualEngine<T, T, FifoStore<T>> _engine;
    private DualChannelReader<T, T, FifoStore<T>>? _reader;
    private DualChannelWriter<T, FifoStore<T>>? _writer;

    /// <summary>Creates an unbounded queue.</summary>
    public DualQueue()
    {
        _engine = new(new FifoStore<T>(null), null, QueueFullMode.Wait, null, null);
    }

    /// <summary>Creates a bounded queue whose puts wait for room when it is full.</summary>
    /// <param name="capacity">The most items the queue holds; at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than 1.</exception>
    public DualQueue(int capacity)
    {
        DualThrow.ValidateSettings(capacity, QueueFullMode.Wait, nameof(capacity));
        _engine = new(new FifoStore<T>(capacity), capacity, QueueFullMode.Wait, null, null);
    }

    /// <summary>Creates a queue with the given settings, which are copied.</summary>
    /// <param name="options">Capacity, full-queue mode, dropped-item callback and clock.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The capacity is less than 1, or the mode is not a <see cref="QueueFullMode"/> value.</exception>
    /// <exception cref="ArgumentException">A mode other than <see cref="QueueFullMode.Wait"/> without a capacity.</exception>
    public DualQueue(DualQueueOptions<T> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        int? capacity = options.Capacity;
        QueueFullMode mode = options.FullMode;
        DualThrow.ValidateSettings(capacity, mode, nameof(options));
        _engine = new(new FifoStore<T>(capacity), capacity, mode, options.OnDropped, options.TimeProvider, options.Name);
    }

    /// <summary>The most items the queue holds, or <see langword="null"/> when it is unbounded.</summary>
    public int? Capacity => _engine.Capacity;

    /// <summary>What a put does when the bounded queue is full.</summary>
    public QueueFullMode FullMode => _engine.FullMode;

    /// <summary>The number of items in the queue now (not counting items of waiting putters).</summary>
    public int Count => _engine.Count;

    /// <summary>The number of putters, blocking and async, now waiting for room.</summary>
    public int WaitingPutters => _engine.WaitingPutters;

    /// <summary>The number of takers, blocking and async, now waiting for an item.</summary>
    public int WaitingTakers => _engine.WaitingTakers;

    /// <summary>Whether <see cref="Complete"/> or <see cref="TryComplete"/> has been called; items may remain.</summary>
    public bool IsCompleted => _engine.IsCompleted;

    /// <summary>
    /// A task that finishes once the queue is completed and empty: successfully, faulted with
    /// the error given to <see cref="Complete"/>, or Canceled (with its token) when that error is
    /// an <see cref="OperationCanceledException"/>. Its continuations run asynchronously.
    /// </summary>
    public Task Completion => _engine.Completion;

    /// <summary>
    /// The queue seen as a <see cref="ChannelReader{T}"/>, for code written against channels.
    /// <c>ReadAsync</c> and <c>ReadAllAsync</c> are <see cref="TakeAsync"/> and
    /// <see cref="ReadAllAsync"/>; <c>WaitToReadAsync</c> waits until an item is in the queue
    /// without taking it; <c>TryPeek</c> reads the item the next take would return without taking
    /// it. A closed reader throws <see cref="QueueCompletedException"/>, a
    /// <see cref="ChannelClosedException"/>, or the <see cref="OperationCanceledException"/> the
    /// queue was completed with, as a channel does.
    /// </summary>
    public ChannelReader<T> Reader
    {
        get
        {
            DualChannelReader<T, T, FifoStore<T>>? reader = _reader;
            return reader ?? Interlocked.CompareExchange(ref _reader, new(_engine), null) ?? _reader;
        }
    }

    /// <summary>
    /// The queue seen as a <see cref="ChannelWriter{T}"/>, for code written against channels.
    /// <c>TryWrite</c>, <c>WriteAsync</c> and <c>TryComplete</c> are <see cref="TryPut(T)"/>,
    /// <see cref="PutAsync"/> and <see cref="TryComplete"/>; <c>WaitToWriteAsync</c> waits for room
    /// without putting. With <see cref="QueueFullMode.Reject"/>, <c>WriteAsync</c> on a full queue
    /// throws <see cref="QueueFullException"/>, which a channel never does.
    /// </summary>
    public ChannelWriter<T> Writer
    {
        get
        {
            DualChannelWriter<T, FifoStore<T>>? writer = _writer;
            return writer ?? Interlocked.CompareExchange(ref _writer, new(_engine), null) ?? _writer;
        }
    }

    /// <summary>
    /// Puts an item if that can be done without waiting: it goes to the oldest waiting taker, or
    /// into the queue if there is room (or the full mode drops an item to make it succeed).
    /// </summary>
    /// <param name="item">The item.</param>
    /// <returns>
    /// <see langword="true"/> when the put took effect; <see langword="false"/> when the queue is
    /// full (modes <see cref="QueueFullMode.Wait"/> and <see cref="QueueFullMode.Reject"/>) or completed.
    /// </returns>
    public bool TryPut(T item) => _engine.TryPut(item);

    /// <summary>Puts an item, blocking the calling thread while the queue is full.</summary>
    /// <param name="item">The item.</param>
    /// <param name="cancellationToken">Ends the wait; the item is then not in the queue.</param>
    /// <exception cref="QueueCompletedException">The queue is completed, or was completed while this call waited.</exception>
    /// <exception cref="OperationCanceledException">The queue was completed with this exception (see the type's remarks).</exception>
    /// <exception cref="QueueFullException">The queue is full and its mode is <see cref="QueueFullMode.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the item went in.</exception>
    public void Put(T item, CancellationToken cancellationToken = default)
    {
        switch (_engine.Put(item, Timeout.InfiniteTimeSpan, cancellationToken))
        {
            case PutStatus.Completed:
                DualThrow.ThrowCompletedForPut(_engine.CompletionError);
                break;
            case PutStatus.Full:
                throw DualThrow.Full();
        }
    }

    /// <summary>Puts an item, blocking the calling thread up to <paramref name="timeout"/> while the queue is full.</summary>
    /// <param name="item">The item.</param>
    /// <param name="timeout">How long to wait for room: <see cref="TimeSpan.Zero"/> not at all, <see cref="Timeout.InfiniteTimeSpan"/> without limit.</param>
    /// <param name="cancellationToken">Ends the wait; the item is then not in the queue.</param>
    /// <returns>
    /// <see langword="true"/> when the put took effect; <see langword="false"/> when it timed out,
    /// the queue is full in mode <see cref="QueueFullMode.Reject"/>, or the queue is completed.
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the item went in.</exception>
    public bool TryPut(T item, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        DualThrow.ValidateTimeout(timeout);
        return _engine.Put(item, timeout, cancellationToken) == PutStatus.Accepted;
    }

    /// <summary>Puts an item, waiting asynchronously while the queue is full.</summary>
    /// <param name="item">The item.</param>
    /// <param name="cancellationToken">Ends the wait; the item is then not in the queue.</param>
    /// <returns>
    /// A task that completes when the item is in the queue (or with a taker), faults with
    /// <see cref="QueueCompletedException"/> or <see cref="QueueFullException"/> as
    /// <see cref="Put"/> throws them, or is cancelled (also when the queue was completed with an
    /// <see cref="OperationCanceledException"/>). Completed synchronously, without
    /// allocating, when there is room.
    /// </returns>
    public ValueTask PutAsync(T item, CancellationToken cancellationToken = default) => _engine.PutAsync(item, cancellationToken);

    /// <summary>Takes the next item if there is one, without waiting.</summary>
    /// <param name="item">The item taken.</param>
    /// <returns><see langword="true"/> when an item was taken.</returns>
    public bool TryTake([MaybeNullWhen(false)] out T item) => _engine.TryTake(out item);

    /// <summary>Takes the next item, blocking the calling thread while the queue is empty.</summary>
    /// <param name="cancellationToken">Ends the wait; no item is taken then.</param>
    /// <returns>The item.</returns>
    /// <exception cref="QueueCompletedException">The queue is completed and empty.</exception>
    /// <exception cref="OperationCanceledException">The queue is completed with this exception, and empty (see the type's remarks).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before an item was handed over.</exception>
    public T Take(CancellationToken cancellationToken = default)
    {
        if (_engine.Take(out T? item, Timeout.InfiniteTimeSpan, cancellationToken) != TakeStatus.Taken)
        {
            DualThrow.ThrowCompletedForTake(_engine.CompletionError);
        }

        return item!;
    }

    /// <summary>Takes the next item, blocking the calling thread up to <paramref name="timeout"/> while the queue is empty.</summary>
    /// <param name="item">The item taken.</param>
    /// <param name="timeout">How long to wait: <see cref="TimeSpan.Zero"/> not at all, <see cref="Timeout.InfiniteTimeSpan"/> without limit.</param>
    /// <param name="cancellationToken">Ends the wait; no item is taken then.</param>
    /// <returns>
    /// <see langword="true"/> when an item was taken; <see langword="false"/> when the wait timed
    /// out or the queue is completed and empty (see <see cref="IsCompleted"/> and <see cref="Completion"/>).
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before an item was handed over.</exception>
    public bool TryTake([MaybeNullWhen(false)] out T item, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        DualThrow.ValidateTimeout(timeout);
        bool taken = _engine.Take(out T? result, timeout, cancellationToken) == TakeStatus.Taken;
        item = result!;
        return taken;
    }

    /// <summary>Takes the next item, waiting asynchronously while the queue is empty.</summary>
    /// <param name="cancellationToken">Ends the wait; no item is taken then.</param>
    /// <returns>
    /// A task with the item; it faults with <see cref="QueueCompletedException"/> when the queue
    /// is completed and empty, or is cancelled (by the token, or because the queue was completed
    /// with an <see cref="OperationCanceledException"/>). Completed synchronously, without allocating, when
    /// an item is there.
    /// </returns>
    public ValueTask<T> TakeAsync(CancellationToken cancellationToken = default) => _engine.TakeAsync(cancellationToken);

    /// <summary>
    /// Takes items as they come, asynchronously, until the queue is completed and empty. Each
    /// item goes to exactly one consumer; several loops may read the same queue.
    /// </summary>
    /// <param name="cancellationToken">Ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The items, in take order.</returns>
    /// <remarks>When the queue was completed with an error, the enumeration throws <see cref="QueueCompletedException"/> with it (an <see cref="OperationCanceledException"/> error itself).</remarks>
    public IAsyncEnumerable<T> ReadAllAsync(CancellationToken cancellationToken = default) => _engine.ReadAllAsync(cancellationToken);

    /// <summary>
    /// Takes items as they come, blocking the enumerating thread, until the queue is completed and
    /// empty. Each item goes to exactly one consumer.
    /// </summary>
    /// <param name="cancellationToken">Ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The items, in take order.</returns>
    /// <remarks>When the queue was completed with an error, the enumeration throws <see cref="QueueCompletedException"/> with it (an <see cref="OperationCanceledException"/> error itself).</remarks>
    public IEnumerable<T> GetConsumingEnumerable(CancellationToken cancellationToken = default) =>
        _engine.GetConsumingEnumerable(cancellationToken);

    /// <summary>
    /// Completes the queue: no more puts; what is in it can still be taken; once it is empty,
    /// takes end (see the type's remarks).
    /// </summary>
    /// <param name="error">An error to pass to consumers, or <see langword="null"/> for a normal end.</param>
    /// <exception cref="InvalidOperationException">The queue was already completed.</exception>
    public void Complete(Exception? error = null)
    {
        if (!_engine.TryComplete(error))
        {
            throw new InvalidOperationException("The queue has already been completed.");
        }
    }

    /// <summary>Completes the queue, unless it already is; see <see cref="Complete"/>.</summary>
    /// <param name="error">An error to pass to consumers, or <see langword="null"/> for a normal end.</param>
    /// <returns><see langword="true"/> when this call completed the queue.</returns>
    public bool TryComplete(Exception? error = null) => _engine.TryComplete(error);
}
