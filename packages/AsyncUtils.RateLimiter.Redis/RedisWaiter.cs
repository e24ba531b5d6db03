using System.Threading.RateLimiting;

namespace AsyncUtils;

/// <summary>
/// One <c>AcquireAsync</c> call on a <see cref="RedisSlidingLogRateLimiter"/>: a node of the
/// process's list of requests and the task its caller awaits. Its ticket names it in Redis.
/// </summary>
/// <remarks>
/// <see cref="State"/> moves, under the limiter's lock, from <see cref="Pending"/> to exactly one
/// of <see cref="Completed"/> (granted or refused) or <see cref="Cancelled"/>. An answer from
/// Redis that arrives for a request no longer pending (cancelled, or failed by dispose) hands the
/// ticket back: its queue place or its grant is removed, so a grant is never lost.
/// </remarks>
internal sealed class RedisWaiter
{
    internal const int Pending = 0;
    internal const int Completed = 1;
    internal const int Cancelled = 2;

    internal RedisWaiter(string ticket, int permitCount, bool reserved, CancellationToken cancellationToken)
    {
        Ticket = ticket;
        PermitCount = permitCount;
        Reserved = reserved;
        CancellationToken = cancellationToken;
    }

    internal string Ticket { get; }

    internal RedisSlidingLogRateLimiter? Owner { get; init; }

    internal int PermitCount { get; }

    /// <summary>Whether the request holds room in the process's queue (<c>QueueLimit</c>), so it may wait.</summary>
    internal bool Reserved { get; }

    internal CancellationToken CancellationToken { get; }

    /// <summary>The places a request takes in the queue: its permits, one for a zero-permit request.</summary>
    internal int QueueWeight => Math.Max(PermitCount, 1);

    internal TaskCompletionSource<RateLimitLease> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Under the limiter's lock.</summary>
    internal int State { get; set; }

    /// <summary>Under the limiter's lock: whether Redis holds a queued ticket for this request.</summary>
    internal bool InServerQueue { get; set; }

    /// <summary>Under the limiter's lock: whether the request is in the limiter's list.</summary>
    internal bool Linked { get; set; }

    /// <summary>Under the limiter's lock: the local time (microseconds) the request's timer is set for.</summary>
    internal long WakeAt { get; set; } = long.MaxValue;

    /// <summary>Under the limiter's lock: calls that failed in a row, for the retry back-off.</summary>
    internal int Failures { get; set; }

    internal RedisWaiter? Next { get; set; }

    internal RedisWaiter? Previous { get; set; }

    internal ITimer? Timer { get; set; }

    internal CancellationTokenRegistration Registration { get; set; }

    /// <summary>1 while a call to Redis for this request is running.</summary>
    internal int Busy;

    /// <summary>Set when another call was asked for while one was running.</summary>
    internal bool Again;
}
