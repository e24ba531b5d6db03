namespace AsyncUtils;

/// <summary>
/// An <see cref="HttpClient"/> handler that bounds the requests in flight with a
/// <see cref="PrioritySemaphore"/>: a request takes a permit before it is sent and returns it when
/// the response comes back; when all permits are taken, waiting requests are served lowest
/// priority number first, ties in arrival order.
/// </summary>
/// <remarks>
/// <para>
/// <b>Priority.</b> A request's priority is the value set on it with
/// <c>request.Options.Set(PriorityConcurrencyHandler.PriorityKey, priority)</c>; without one, the
/// ambient <see cref="PriorityContext.Current"/> of the flow that sends it (0 unless a
/// <see cref="PriorityContext.Enter"/> scope is active). Lower numbers go first; priority orders
/// the queue, it never pre-empts a request already sent, and a new request never overtakes one
/// already waiting.
/// </para>
/// <para>
/// <b>Permits.</b> The permit is held until the inner handler returns the response (its headers;
/// the content is read after the handler returns) or throws. A wait cancelled by the request's
/// token throws <see cref="OperationCanceledException"/> and takes no permit, and a permit granted
/// just as the token fired goes to the next waiter: no permit is ever leaked.
/// </para>
/// <para>
/// <b>Order with other handlers.</b> Put it before (outside) the rate-limit handler, so that the
/// priority decides who takes the next rate-limit permit; after (inside) a retry handler, so that
/// a request waiting to retry holds no permit. The semaphore is shared, not owned. The synchronous
/// <see cref="HttpClient.Send(HttpRequestMessage)"/> path blocks its thread while it waits. Thread-safe.
/// </para>
/// </remarks>
public sealed class PriorityConcurrencyHandler : DelegatingHandler
{
    private readonly PrioritySemaphore _semaphore;

    /// <summary>Creates a handler whose requests take their permits from <paramref name="semaphore"/>.</summary>
    /// <param name="semaphore">The semaphore; its count is the number of requests in flight at once, shared by every handler over it.</param>
    /// <exception cref="ArgumentNullException"><paramref name="semaphore"/> is <see langword="null"/>.</exception>
    public PriorityConcurrencyHandler(PrioritySemaphore semaphore)
    {
        ArgumentNullException.ThrowIfNull(semaphore);
        _semaphore = semaphore;
    }

    /// <summary>
    /// The request option that sets a request's priority (lower numbers first):
    /// <c>request.Options.Set(PriorityConcurrencyHandler.PriorityKey, -1)</c>. Without it, a
    /// request has the ambient <see cref="PriorityContext.Current"/>.
    /// </summary>
    public static HttpRequestOptionsKey<int> PriorityKey { get; } = new("AsyncUtils.Priority");

    /// <summary>Waits for a permit at the request's priority, then sends the request; the permit is returned when the response (or a failure) comes back.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait and the request.</param>
    /// <returns>The inner handler's response.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using PrioritySemaphoreReleaser permit = await _semaphore.AcquireAsync(PriorityOf(request), cancellationToken).ConfigureAwait(false);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Blocks until a permit is granted at the request's priority, then sends the request; the permit is returned when the response (or a failure) comes back.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait and the request.</param>
    /// <returns>The inner handler's response.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        _semaphore.Wait(PriorityOf(request), Timeout.InfiniteTimeSpan, cancellationToken);
        try
        {
            return base.Send(request, cancellationToken);
        }
        finally
        {
            _semaphore.Release();
        }
    }

    private static int PriorityOf(HttpRequestMessage request) =>
        request.Options.TryGetValue(PriorityKey, out int priority) ? priority : PriorityContext.Current;
}
