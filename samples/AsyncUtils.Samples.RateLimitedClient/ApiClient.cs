using System.Net;
using AsyncUtils;

namespace RateLimitedClientSample;

/// <summary>
/// A client for an API that answers 429 now and then. From the outside in: TaskCache (identical
/// lookups share one call and its answer) -> retry on 429 -> HttpClient with the AsyncUtils.Http
/// handlers: PriorityConcurrencyHandler (two requests on the wire at a time; urgent callers are
/// served first) -> RateLimitHandler (5 requests in any second) -> TrafficLog (what the sample
/// prints) -> LockoutHandler (after a 429 nobody sends until Retry-After has passed).
/// </summary>
internal sealed class ApiClient : IDisposable
{
    private const int MaxAttempts = 4;

    private readonly Action<string, string> _log;
    private readonly SlidingLogRateLimiter _limiter;
    private readonly PrioritySemaphore _connections = new(2);
    private readonly HttpClient _http;
    private readonly TaskCache<string, string> _cache = new(new TaskCacheOptions<string, string>
    {
        TimeToLive = TimeSpan.FromMinutes(1),
        MaxSize = 1_000,
        TrackStatistics = true,
    });

    public ApiClient(Uri baseAddress, Action<string, string> log)
    {
        _log = log;
        _limiter = new SlidingLogRateLimiter(permitLimit: 5, period: TimeSpan.FromSeconds(1), queueLimit: 100);
        var lockout = new Lockout();
        Traffic = new TrafficLog(lockout, log)
        {
            InnerHandler = new LockoutHandler(lockout, new LockoutHandlerOptions { MaxLockout = TimeSpan.FromSeconds(30) })
            {
                InnerHandler = new SocketsHttpHandler(),
            },
        };

        // With IHttpClientFactory the same chain is:
        //   services.AddHttpClient("api").AddPriorityConcurrency(...).AddRateLimiter(...).AddLockout(...)
        _http = new HttpClient(new PriorityConcurrencyHandler(_connections)
        {
            InnerHandler = new RateLimitHandler(_limiter) { InnerHandler = Traffic },
        })
        {
            BaseAddress = baseAddress,
        };
    }

    /// <summary>Requests waiting for one of the two connection slots.</summary>
    public int Waiting => _connections.WaitingCount;

    public TrafficLog Traffic { get; }

    public TaskCacheStatistics? CacheStatistics => _cache.GetStatistics();

    /// <summary>
    /// Looks a resource up. The caller's token only stops this caller waiting; the shared call goes
    /// on for the others. The call's requests run at the priority in effect
    /// (<see cref="PriorityContext"/>) of the caller that started it; callers that join it share
    /// its place in the queue.
    /// </summary>
    public Task<string> GetAsync(string path, CancellationToken cancellationToken = default) =>
        _cache.GetOrAddAsync(path, (key, ct) => FetchAsync(key, ct)).WaitAsync(cancellationToken);

    private async Task<string> FetchAsync(string path, CancellationToken cancellationToken)
    {
        int priority = PriorityContext.Current;
        if (priority < 0)
        {
            // PriorityConcurrencyHandler queues by the ambient priority: lower numbers first, ties in arrival order.
            _log("client", $"{path}: urgent (priority {priority}), goes ahead of the {_connections.WaitingCount} lookups waiting for a connection slot");
        }

        for (int attempt = 1; ; attempt++)
        {
            using HttpResponseMessage response = await _http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
            if (response.StatusCode == HttpStatusCode.TooManyRequests && attempt < MaxAttempts)
            {
                _log("client", $"{path}: will try again once the lockout ends (attempt {attempt + 1} of {MaxAttempts})");
                continue; // the next attempt takes a slot and a permit, then waits in the lockout handler
            }

            response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsStringAsync(cancellationToken);
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _limiter.Dispose();
    }
}
