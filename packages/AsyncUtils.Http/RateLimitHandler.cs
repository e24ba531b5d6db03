using System.Globalization;
using System.Threading.RateLimiting;
using BclRateLimiter = System.Threading.RateLimiting.RateLimiter;

namespace AsyncUtils;

/// <summary>
/// An <see cref="HttpClient"/> handler that takes a permit from a rate limiter before every request
/// it sends: from one <see cref="BclRateLimiter"/> for every request (a
/// <see cref="SlidingLogRateLimiter"/> or any of the BCL's limiters), or from a
/// <see cref="PartitionedRateLimiter{TResource}"/> of requests, for example one limiter per host
/// (<see cref="HttpRateLimiterPartitions.ByHost"/>) or per key of yours
/// (<see cref="HttpRateLimiterPartitions.ByKey{TKey}"/>).
/// </summary>
/// <remarks>
/// <para>
/// <b>Waiting.</b> A request waits in the limiter's queue (<c>AcquireAsync</c>) with the request's
/// <see cref="CancellationToken"/>, so the limiter decides the order and the queue length. Every
/// request that passes through the handler takes a permit: placed after (inside) a retry handler,
/// such as the one of <c>AddStandardResilienceHandler</c>, every attempt counts.
/// </para>
/// <para>
/// <b>Refusal.</b> When the limiter refuses (its queue is full, or it was disposed), nothing is
/// sent and <see cref="SendAsync"/> throws <see cref="RateLimitRejectedException"/>, carrying the
/// lease's <c>RetryAfter</c> and reason phrase when the limiter gave them. It does not invent a 429
/// response: a 429 means the server refused, and a retry handler would retry it at once, while this
/// is your own budget telling you to slow down.
/// </para>
/// <para>
/// <b>Leases.</b> The lease is held until the inner handler returns the response (its headers;
/// the content is read after the handler returns) or throws, then disposed. For a time-based
/// limiter that changes nothing; for a <see cref="ConcurrencyLimiter"/> it bounds the requests in
/// flight. A wait cancelled by its token throws <see cref="OperationCanceledException"/> and
/// takes no permit; a lease is disposed however the request ends, so no permit is ever lost.
/// </para>
/// <para>
/// <b>Sharing.</b> The limiter is shared, not owned: the handler never disposes it, and every
/// handler built over the same limiter (every handler <c>IHttpClientFactory</c> creates, when it
/// recycles them) draws on the same budget. The synchronous <see cref="HttpClient.Send(HttpRequestMessage)"/>
/// path blocks its thread while it waits. Thread-safe.
/// </para>
/// </remarks>
public sealed class RateLimitHandler : DelegatingHandler
{
    private readonly BclRateLimiter? _limiter;
    private readonly PartitionedRateLimiter<HttpRequestMessage>? _partitionedLimiter;

    /// <summary>Creates a handler that takes every request's permit from <paramref name="limiter"/>.</summary>
    /// <param name="limiter">The limiter, shared by every request and never disposed by the handler.</param>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    public RateLimitHandler(BclRateLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _limiter = limiter;
    }

    /// <summary>
    /// Creates a handler that takes each request's permit from the partition
    /// <paramref name="limiter"/> chooses for it (see <see cref="HttpRateLimiterPartitions"/>).
    /// </summary>
    /// <param name="limiter">The partitioned limiter, never disposed by the handler.</param>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    public RateLimitHandler(PartitionedRateLimiter<HttpRequestMessage> limiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _partitionedLimiter = limiter;
    }

    /// <summary>Waits for a permit, then sends the request; the permit is released when the response (or a failure) comes back.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait for a permit and the request.</param>
    /// <returns>The inner handler's response.</returns>
    /// <exception cref="RateLimitRejectedException">The limiter refused the request; nothing was sent.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using RateLimitLease lease = await AcquireAsync(request, cancellationToken).ConfigureAwait(false);
        ThrowIfRefused(lease);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Blocks until a permit is granted, then sends the request; the permit is released when the response (or a failure) comes back.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait for a permit and the request.</param>
    /// <returns>The inner handler's response.</returns>
    /// <exception cref="RateLimitRejectedException">The limiter refused the request; nothing was sent.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValueTask<RateLimitLease> acquire = AcquireAsync(request, cancellationToken);
        using RateLimitLease lease = acquire.IsCompletedSuccessfully ? acquire.Result : acquire.AsTask().GetAwaiter().GetResult();
        ThrowIfRefused(lease);
        return base.Send(request, cancellationToken);
    }

    private ValueTask<RateLimitLease> AcquireAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _limiter is not null
            ? _limiter.AcquireAsync(1, cancellationToken)
            : _partitionedLimiter!.AcquireAsync(request, 1, cancellationToken);

    private static void ThrowIfRefused(RateLimitLease lease)
    {
        if (lease.IsAcquired)
        {
            return;
        }

        TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan value) ? value : null;
        string? reason = lease.TryGetMetadata(MetadataName.ReasonPhrase, out string? phrase) ? phrase : null;
        string message = retryAfter is TimeSpan wait
            ? string.Create(CultureInfo.InvariantCulture, $"The rate limiter refused the HTTP request, which was not sent; retry after {wait}.")
            : "The rate limiter refused the HTTP request, which was not sent.";
        throw new RateLimitRejectedException(message, retryAfter, reason);
    }
}
