using System.Net;

namespace AsyncUtils;

/// <summary>
/// An <see cref="HttpClient"/> handler that holds every request while a <see cref="Lockout"/> is in
/// force, and locks it out when a response says the server is overloaded: a 429 Too Many Requests
/// (and by default a 503 Service Unavailable) locks the lockout for the response's
/// <c>Retry-After</c>, capped at <see cref="LockoutHandlerOptions.MaxLockout"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Everyone waits.</b> Share one <see cref="Lockout"/> between every client of an API (every
/// handler <c>IHttpClientFactory</c> creates shares the one given to <c>AddLockout</c>): after one
/// 429, every request through any of them waits until the <c>Retry-After</c> has passed, not only
/// the one that was told. Requests already sent are not disturbed. Lockouts only ever extend: a
/// shorter <c>Retry-After</c> never shortens a longer lockout.
/// </para>
/// <para>
/// <b>Retry-After.</b> Both forms are read: delta-seconds and an HTTP date (measured on the
/// lockout's <see cref="TimeProvider"/>). A response without one (or with one that cannot be
/// parsed) locks for
/// <see cref="LockoutHandlerOptions.LockoutWithoutRetryAfter"/> (zero by default: not at all).
/// </para>
/// <para>
/// <b>No retry.</b> The handler returns the 429 or 503 to its caller as it came; a retry handler
/// outside it (for example <c>AddStandardResilienceHandler</c>, registered before it) retries, and
/// each retry waits here for the lockout to end. Put the handler after (inside) the rate limiter, so
/// that a request that waited for a permit still respects a lockout that began meanwhile.
/// </para>
/// <para>
/// <b>Cancellation.</b> The request's token cancels the wait (<see cref="OperationCanceledException"/>);
/// entering takes nothing, so there is nothing to hand back. The handler never disposes the
/// lockout. The synchronous <see cref="HttpClient.Send(HttpRequestMessage)"/> path blocks its
/// thread while it waits. Thread-safe.
/// </para>
/// </remarks>
public sealed class LockoutHandler : DelegatingHandler
{
    private readonly Lockout _lockout;
    private readonly TimeSpan _maxLockout;
    private readonly TimeSpan _lockoutWithoutRetryAfter;
    private readonly bool _lockOnServiceUnavailable;

    /// <summary>Creates a handler over <paramref name="lockout"/> with the default settings (a lockout of at most 5 minutes, on 429 and 503).</summary>
    /// <param name="lockout">The lockout, shared with every client of the same API.</param>
    /// <exception cref="ArgumentNullException"><paramref name="lockout"/> is <see langword="null"/>.</exception>
    public LockoutHandler(Lockout lockout)
        : this(lockout, null)
    {
    }

    /// <summary>Creates a handler over <paramref name="lockout"/>.</summary>
    /// <param name="lockout">The lockout, shared with every client of the same API.</param>
    /// <param name="options">The settings, copied now; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="lockout"/> is <see langword="null"/>.</exception>
    public LockoutHandler(Lockout lockout, LockoutHandlerOptions? options)
    {
        ArgumentNullException.ThrowIfNull(lockout);
        options ??= new LockoutHandlerOptions();
        _lockout = lockout;
        _maxLockout = options.MaxLockout;
        _lockoutWithoutRetryAfter = options.LockoutWithoutRetryAfter;
        _lockOnServiceUnavailable = options.LockOnServiceUnavailable;
    }

    /// <summary>Waits while the lockout is in force, sends the request, and locks the lockout out if the response says so.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait and the request.</param>
    /// <returns>The inner handler's response, unchanged.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _lockout.EnterAsync(cancellationToken).ConfigureAwait(false);
        HttpResponseMessage response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        Observe(response);
        return response;
    }

    /// <summary>Blocks while the lockout is in force, sends the request, and locks the lockout out if the response says so.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait and the request.</param>
    /// <returns>The inner handler's response, unchanged.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValueTask enter = _lockout.EnterAsync(cancellationToken);
        if (!enter.IsCompletedSuccessfully)
        {
            enter.AsTask().GetAwaiter().GetResult();
        }

        HttpResponseMessage response = base.Send(request, cancellationToken);
        Observe(response);
        return response;
    }

    private void Observe(HttpResponseMessage response)
    {
        if (response is null)
        {
            return;
        }

        HttpStatusCode status = response.StatusCode;
        if (status != HttpStatusCode.TooManyRequests && (status != HttpStatusCode.ServiceUnavailable || !_lockOnServiceUnavailable))
        {
            return;
        }

        TimeSpan applied = _lockout.LockForRetryAfter(response.Headers.RetryAfter, _maxLockout);
        if (applied <= TimeSpan.Zero && _lockoutWithoutRetryAfter > TimeSpan.Zero && response.Headers.RetryAfter is null)
        {
            _lockout.LockFor(_lockoutWithoutRetryAfter < _maxLockout ? _lockoutWithoutRetryAfter : _maxLockout);
        }
    }
}
