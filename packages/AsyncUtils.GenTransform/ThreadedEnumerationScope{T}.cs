namespace AsyncUtils;

/// <summary>
/// One enumeration of a <see cref="ThreadedAsyncEnumerable{T}"/> whose source is stopped and
/// cleaned up when the scope is disposed, not when a loop over it ends, so that the consumer can
/// first tell the source why it left. The .NET form of the Python library async-utils'
/// <c>async with sync_to_async_gen(...) as gen:</c>. Open one with
/// <see cref="ThreadedAsyncEnumerable{T}.OpenScope(CancellationToken)"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Use.</b> Open the scope with <c>await using</c>, enumerate it with <c>await foreach</c>, and
/// forward an exception that ends the loop with <see cref="ForwardException(Exception)"/>:
/// <code>
/// await using var scope = lines.OpenScope(cancellationToken);
/// try
/// {
///     await foreach (string line in scope)
///     {
///         await ImportAsync(line);
///     }
/// }
/// catch (Exception ex)
/// {
///     scope.ForwardException(ex); // the source's cleanup sees it as ThreadedSourceContext.ConsumerException
///     throw;
/// }
/// </code>
/// C# does not tell <c>await using</c> or <c>await foreach</c> whether their block threw, so the
/// scope cannot learn the exception by itself: without <see cref="ForwardException(Exception)"/>
/// the source's cleanup still runs with its token cancelled, but
/// <see cref="ThreadedSourceContext.ConsumerException"/> stays <see langword="null"/>.
/// <see cref="ThreadedAsyncEnumerable{T}.ForEachAsync(Func{T, CancellationToken, ValueTask}, CancellationToken)"/>
/// forwards its body's exception by itself.
/// </para>
/// <para>
/// <b>Leaving a loop does not stop the source.</b> Disposing an enumerator of the scope (what
/// <c>break</c>, <c>return</c> or an exception in an <c>await foreach</c> body does) only detaches
/// it: the source waits, on its thread, at the item it was asked for last (or up to the prefetch
/// ahead). A later <c>await foreach</c> over the same scope continues with the next item, as a
/// second loop over a Python generator does. Disposing the scope stops the source: if it has not
/// ended, the forwarded exception is set, the source's token is cancelled and its enumerator is
/// disposed on its thread, all before <see cref="DisposeAsync"/> returns.
/// </para>
/// <para>
/// <b>Errors.</b> An exception from the source's cleanup is thrown by <see cref="DisposeAsync"/>;
/// if an exception was forwarded, both are thrown together as an <see cref="AggregateException"/>,
/// the forwarded one first, so that <c>await using</c> does not replace the consumer's exception
/// with the cleanup's.
/// </para>
/// <para>
/// <b>Cancellation.</b> The token given to <see cref="ThreadedAsyncEnumerable{T}.OpenScope(CancellationToken)"/>,
/// or to one loop through <c>WithCancellation</c>, ends the whole enumeration at once, as for a
/// plain enumerator: waiting and later <c>MoveNextAsync</c> calls throw
/// <see cref="OperationCanceledException"/> and the source is stopped and cleaned up without
/// waiting for the scope's disposal.
/// </para>
/// <para>
/// <b>Disposal is required.</b> A scope that is never disposed leaves its source thread waiting
/// forever. One loop at a time: a second enumerator while the first is not disposed is rejected.
/// </para>
/// </remarks>
/// <typeparam name="T">The item type.</typeparam>
public sealed class ThreadedEnumerationScope<T> : IAsyncEnumerable<T>, IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly ThreadedEnumerator<T> _enumerator;
    private Loop? _loop;
    private Exception? _forwarded;
    private bool _disposed;

    internal ThreadedEnumerationScope(ThreadedEnumerator<T> enumerator)
    {
        _enumerator = enumerator;
    }

    /// <summary>
    /// Starts a loop over the scope, continuing where the previous loop stopped. Nothing runs until
    /// the first <c>MoveNextAsync</c> of the first loop, which starts the source thread.
    /// </summary>
    /// <param name="cancellationToken">Ends the whole enumeration when cancelled; see the remarks on the type.</param>
    /// <returns>An enumerator whose disposal detaches it without stopping the source.</returns>
    /// <exception cref="ObjectDisposedException">The scope was disposed.</exception>
    /// <exception cref="InvalidOperationException">The enumerator of a previous loop has not been disposed.</exception>
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        Loop loop;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_loop is not null)
            {
                throw new InvalidOperationException("The enumerator of a previous loop over this scope has not been disposed; a scope serves one loop at a time.");
            }

            loop = new Loop(this);
            _loop = loop;
        }

        // Registered outside the lock: an already cancelled token runs the callback right here.
        loop.Register(cancellationToken);
        return loop;
    }

    /// <summary>
    /// Tells the source why the consumer is leaving: when the scope is disposed before the source
    /// ended, the source sees <paramref name="exception"/> as
    /// <see cref="ThreadedSourceContext.ConsumerException"/> in its cleanup. This does not throw;
    /// rethrow the exception yourself. Only the first exception forwarded is kept; forwarding after
    /// the source ended or the scope was disposed has no effect.
    /// </summary>
    /// <param name="exception">The exception that ends the consumer's work.</param>
    /// <exception cref="ArgumentNullException"><paramref name="exception"/> is <see langword="null"/>.</exception>
    public void ForwardException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        lock (_gate)
        {
            if (!_disposed)
            {
                _forwarded ??= exception;
            }
        }
    }

    /// <summary>
    /// Stops the source if it has not ended: sets the forwarded exception, cancels the source's
    /// token and disposes its enumerator on its thread, then returns. A second call does nothing.
    /// </summary>
    /// <returns>A task that completes once the source was cleaned up.</returns>
    /// <exception cref="AggregateException">
    /// An exception was forwarded and the source's cleanup threw; holds both, the forwarded one first.
    /// </exception>
    /// <remarks>Without a forwarded exception, an exception from the source's cleanup is thrown as is.</remarks>
    public ValueTask DisposeAsync()
    {
        Exception? forwarded;
        Loop? loop;
        lock (_gate)
        {
            if (_disposed)
            {
                return default;
            }

            _disposed = true;
            forwarded = _forwarded;
            loop = _loop;
            _loop = null;
        }

        loop?.Unregister();
        if (forwarded is not null)
        {
            _enumerator.SetConsumerException(forwarded);
        }

        ValueTask stop;
        try
        {
            stop = _enumerator.DisposeAsync();
        }
        catch (Exception cleanupError) when (forwarded is not null)
        {
            return ValueTask.FromException(new AggregateException(forwarded, cleanupError));
        }

        if (stop.IsCompletedSuccessfully || forwarded is null)
        {
            return stop;
        }

        return AwaitStopAsync(stop, forwarded);
    }

    private static async ValueTask AwaitStopAsync(ValueTask stop, Exception forwarded)
    {
        try
        {
            await stop.ConfigureAwait(false);
        }
        catch (Exception cleanupError)
        {
            throw new AggregateException(forwarded, cleanupError);
        }
    }

    private void Detach(Loop loop)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_loop, loop))
            {
                _loop = null;
            }
        }
    }

    /// <summary>One loop over the scope: forwards to the scope's single enumeration.</summary>
    private sealed class Loop(ThreadedEnumerationScope<T> scope) : IAsyncEnumerator<T>
    {
        private CancellationTokenRegistration _registration;
        private bool _disposed;

        public T Current => scope._enumerator.Current;

        public void Register(CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.UnsafeRegister(
                    static (state, token) => ((ThreadedEnumerator<T>)state!).OnConsumerCancelled(token), scope._enumerator);
            }
        }

        public void Unregister() => _registration.Dispose();

        public ValueTask<bool> MoveNextAsync()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return scope._enumerator.MoveNextAsync();
        }

        public ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return default;
            }

            _disposed = true;
            _registration.Dispose();
            scope.Detach(this);

            // Leaving with a MoveNextAsync still pending (only possible by hand, never with
            // await foreach) would let the next item go to a call nobody awaits: end the
            // enumeration instead, which fails that call.
            return scope._enumerator.IsMoveNextPending ? scope.DisposeAsync() : default;
        }
    }
}
