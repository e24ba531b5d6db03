using System.Threading.RateLimiting;
using BclRateLimiter = System.Threading.RateLimiting.RateLimiter;

namespace AsyncUtils;

/// <summary>
/// Partitioned rate limiters of HTTP requests for <see cref="RateLimitHandler"/>: one limiter per
/// host, or one per key of yours (a tenant, an API key, a header), each created on first use.
/// </summary>
/// <remarks>
/// These build on <see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/>: a
/// partition's limiter is created once, when its key is first seen, and the partitioned limiter
/// disposes a partition's limiter once it has been idle for a while (its
/// <see cref="BclRateLimiter.IdleDuration"/>: a <see cref="SlidingLogRateLimiter"/> is idle only
/// when no permit of any window is still counted), creating a fresh one when the key comes back.
/// Dispose the returned limiter when done with it: that disposes every partition's limiter.
/// </remarks>
public static class HttpRateLimiterPartitions
{
    /// <summary>
    /// One limiter per host the requests go to: the request URI's host, with its port when that is
    /// not the scheme's default (<see cref="Uri.Authority"/>, which is lower case).
    /// </summary>
    /// <param name="limiterFactory">Creates the limiter of a host, given the host; called once per host (and again after an idle host's limiter was disposed).</param>
    /// <returns>The partitioned limiter, to pass to <see cref="RateLimitHandler"/> or <c>AddRateLimiter</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="limiterFactory"/> is <see langword="null"/>.</exception>
    /// <remarks>A request without an absolute <see cref="HttpRequestMessage.RequestUri"/> makes the handler throw <see cref="InvalidOperationException"/>.</remarks>
    public static PartitionedRateLimiter<HttpRequestMessage> ByHost(Func<string, BclRateLimiter> limiterFactory) =>
        ByKey(HostOf, limiterFactory);

    /// <summary>One limiter per key that <paramref name="keySelector"/> gives a request.</summary>
    /// <typeparam name="TKey">The partition key: equal keys share a limiter.</typeparam>
    /// <param name="keySelector">Gives a request's key; for example a value the caller set with <c>request.Options.Set(...)</c>. It must not return <see langword="null"/>.</param>
    /// <param name="limiterFactory">Creates the limiter of a key, given the key; called once per key (and again after an idle key's limiter was disposed).</param>
    /// <returns>The partitioned limiter, to pass to <see cref="RateLimitHandler"/> or <c>AddRateLimiter</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static PartitionedRateLimiter<HttpRequestMessage> ByKey<TKey>(Func<HttpRequestMessage, TKey> keySelector, Func<TKey, BclRateLimiter> limiterFactory)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(keySelector);
        ArgumentNullException.ThrowIfNull(limiterFactory);
        return PartitionedRateLimiter.Create<HttpRequestMessage, TKey>(request =>
        {
            TKey key = keySelector(request);
            if (key is null)
            {
                throw new InvalidOperationException("The rate limiter's key selector returned null for a request; it must return a partition key.");
            }

            return RateLimitPartition.Get(key, k => limiterFactory(k) ?? throw new InvalidOperationException($"The rate limiter factory returned null for the partition '{k}'; it must return a limiter."));
        });
    }

    private static string HostOf(HttpRequestMessage request) =>
        request.RequestUri is { IsAbsoluteUri: true } uri
            ? uri.Authority
            : throw new InvalidOperationException("The request has no absolute RequestUri, so the rate limiter cannot partition it by host.");
}
