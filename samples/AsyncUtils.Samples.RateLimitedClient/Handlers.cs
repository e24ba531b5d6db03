using System.Diagnostics;
using System.Net;
using AsyncUtils;

namespace RateLimitedClientSample;

/// <summary>Our own budget: every request, first try or retry, takes a permit from the limiter (FIFO, woken exactly when one frees).</summary>
internal sealed class RateLimitHandler(SlidingLogRateLimiter limiter, Action<string, string> log) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        await using (await limiter.EnterAsync(cancellationToken))
        {
            TimeSpan waited = Stopwatch.GetElapsedTime(started);
            if (waited > TimeSpan.FromMilliseconds(50))
            {
                log("client", $"{request.RequestUri?.AbsolutePath}: waited {waited.TotalSeconds:0.00} s for a permit (5 requests had gone out in the last second)");
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>
/// The server's word: waits while a lockout is in force, and on a 429 locks everyone out for the
/// response's Retry-After (capped at <paramref name="maxLockout"/>). It sits inside the rate-limit
/// handler, so a request that waited for a permit still respects a lockout that began meanwhile.
/// It does not retry; it returns the 429 to the caller.
/// </summary>
internal sealed class LockoutHandler(Lockout lockout, TimeSpan maxLockout, Action<string, string> log) : DelegatingHandler
{
    private readonly Lock _gate = new();
    private long _heldUntil;     // Stopwatch timestamp when the latest lockout ends
    private TimeSpan _heldTotal; // union of all lockout periods
    private int _requestsSent;
    private int _tooMany;
    private int _lockouts;
    private int _waits;

    public int RequestsSent => Volatile.Read(ref _requestsSent);

    public int TooManyRequests => Volatile.Read(ref _tooMany);

    public int Lockouts => Volatile.Read(ref _lockouts);

    public int Waits => Volatile.Read(ref _waits);

    public TimeSpan HeldTotal
    {
        get
        {
            lock (_gate)
            {
                return _heldTotal;
            }
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (lockout.IsLocked)
        {
            Interlocked.Increment(ref _waits);
            long waitStarted = Stopwatch.GetTimestamp();
            await lockout.EnterAsync(cancellationToken);
            log("client", $"{request.RequestUri?.AbsolutePath}: waited {Stopwatch.GetElapsedTime(waitStarted).TotalSeconds:0.00} s for the lockout to end, sending now");
        }
        else
        {
            await lockout.EnterAsync(cancellationToken);
        }

        Interlocked.Increment(ref _requestsSent);
        HttpResponseMessage response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            Interlocked.Increment(ref _tooMany);
            long now = Stopwatch.GetTimestamp();
            TimeSpan applied = lockout.LockForRetryAfter(response.Headers.RetryAfter, maxLockout);
            if (applied > TimeSpan.Zero)
            {
                Interlocked.Increment(ref _lockouts);
                Record(now, applied);
            }

            log("client", $"{request.RequestUri?.AbsolutePath}: 429 with Retry-After: {response.Headers.RetryAfter}; nobody sends anything for the next {applied.TotalSeconds:0.0} s");
        }

        return response;
    }

    /// <summary>Adds [now, now + applied) to the time the lockout held, counting overlaps once.</summary>
    private void Record(long now, TimeSpan applied)
    {
        long end = now + (long)(applied.TotalSeconds * Stopwatch.Frequency);
        lock (_gate)
        {
            long from = Math.Max(now, _heldUntil);
            if (end > from)
            {
                _heldTotal += TimeSpan.FromSeconds((end - from) / (double)Stopwatch.Frequency);
                _heldUntil = end;
            }
        }
    }
}
