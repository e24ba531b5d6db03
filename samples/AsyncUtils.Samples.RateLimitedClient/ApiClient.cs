using System.Net;
using AsyncUtils;

namespace RateLimitedClientSample;

/// <summary>
/// A client for an API that answers 429 now and then. From the outside in:
/// TaskCache (identical lookups share one call and its answer) -> PrioritySemaphore (two requests
/// on the wire at a time; urgent callers are served first) -> retry on 429 -> HttpClient with
/// RateLimitHandler (5 requests in any second) -> LockoutHandler (after a 429 nobody sends until
/// Retry-After has passed).
/// </summary>
internal sealed class ApiClient : IDisposable
{
    private const int MaxAttempts = 4;

    private readonly Action<string, string> _log;
    private readonly SlidingLogRateLimiter _limiter;
    private readonly LockoutHandler _lockoutHandler;
    private readonly HttpClient _http;
    private readonly PrioritySemaphore _connections = new(2);
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
        _lockoutHandler = new LockoutHandler(new Lockout(), maxLockout: TimeSpan.FromSeconds(30), log)
        {
            InnerHandler = new SocketsHttpHandler(),
        };
        _http = new HttpClient(new RateLimitHandler(_limiter, log) { InnerHandler = _lockoutHandler })
        {
            BaseAddress = baseAddress,
        };
    }

    /// <summary>Callers waiting for one of the two connection slots.</summary>
    public int Waiting => _connections.WaitingCount;

    public LockoutHandler Lockout => _lockoutHandler;

    public TaskCacheStatistics? CacheStatistics => _cache.GetStatistics();

    /// <summary>
    /// Looks a resource up. The caller's token only stops this caller waiting; the shared call goes
    /// on for the others. The call runs at the priority in effect (<see cref="PriorityContext"/>)
    /// of the caller that started it; callers that join it share its place in the queue.
    /// </summary>
    public Task<string> GetAsync(string path, CancellationToken cancellationToken = default) =>
        _cache.GetOrAddAsync(path, (key, ct) => FetchAsync(key, ct)).WaitAsync(cancellationToken);

    private async Task<string> FetchAsync(string path, CancellationToken cancellationToken)
    {
        int priority = PriorityContext.Current;
        // Queued by the ambient priority: lower numbers first, ties in arrival order.
        using PrioritySemaphoreReleaser slot = await _connections.AcquireAsync(cancellationToken);
        if (priority < 0)
        {
            _log("client", $"{path}: urgent (priority {priority}), got a connection slot ahead of {_connections.WaitingCount} waiting lookups");
        }

        for (int attempt = 1; ; attempt++)
        {
            using HttpResponseMessage response = await _http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
            if (response.StatusCode == HttpStatusCode.TooManyRequests && attempt < MaxAttempts)
            {
                _log("client", $"{path}: will try again once the lockout ends (attempt {attempt + 1} of {MaxAttempts})");
                continue; // the next attempt takes a permit, then waits in the lockout handler
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
