using System.Net;
using AsyncUtils;

namespace RateLimitedClientSample;

/// <summary>
/// What the sample prints about the traffic; the limiting itself is done by the AsyncUtils.Http
/// handlers around it. It sits between <see cref="RateLimitHandler"/> and
/// <see cref="LockoutHandler"/>, so it sees every request that got a permit, and every response
/// after the lockout handler has turned a 429 into a lockout for everyone.
/// </summary>
internal sealed class TrafficLog(Lockout lockout, Action<string, string> log) : DelegatingHandler
{
    private readonly Lock _gate = new();
    private DateTimeOffset _heldUntil; // when the latest lockout ends
    private TimeSpan _heldTotal;       // union of all lockout periods
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
        string path = request.RequestUri?.AbsolutePath ?? "/";
        if (lockout.LockedUntil is DateTimeOffset until)
        {
            Interlocked.Increment(ref _waits);
            log("client", $"{path}: a lockout is in force; waiting {(until - DateTimeOffset.UtcNow).TotalSeconds:0.00} s for it to end");
        }

        // The lockout handler waits out any lockout, sends, and on a 429 locks everyone out.
        HttpResponseMessage response = await base.SendAsync(request, cancellationToken);
        Interlocked.Increment(ref _requestsSent);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            Interlocked.Increment(ref _tooMany);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            TimeSpan applied = lockout.LockedUntil is DateTimeOffset end && end > now ? end - now : TimeSpan.Zero;
            Record(now, now + applied);
            log("client", $"{path}: 429 with Retry-After: {response.Headers.RetryAfter}; nobody sends anything for the next {applied.TotalSeconds:0.0} s");
        }

        return response;
    }

    /// <summary>Adds [now, end) to the time the lockout held, counting overlaps once.</summary>
    private void Record(DateTimeOffset now, DateTimeOffset end)
    {
        lock (_gate)
        {
            DateTimeOffset from = now > _heldUntil ? now : _heldUntil;
            if (end > from)
            {
                _heldTotal += end - from;
                _heldUntil = end;
                _lockouts++;
            }
        }
    }
}
