using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Docs.Snippets;

internal static class LockoutSnippets
{
    public static async Task RunAsync()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

        // <LockoutBasic>
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });

        await lockout.EnterAsync(CancellationToken.None); // unlocked: completes at once

        // The server said "429 Too Many Requests, Retry-After: 30": hold everyone back for 30 s.
        TimeSpan locked = lockout.LockForRetryAfter("30", maxDuration: TimeSpan.FromMinutes(5));

        ValueTask next = lockout.EnterAsync(CancellationToken.None); // waits until the lockout ends
        Console.WriteLine($"locked for {locked}, waiting: {!next.IsCompleted}");
        // </LockoutBasic>

        Check.That(locked == TimeSpan.FromSeconds(30) && !next.IsCompleted, "a Retry-After of 30 locks for 30 seconds");
        clock.Advance(TimeSpan.FromSeconds(30));
        await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Check.That(!lockout.IsLocked, "the lockout ends after its duration");
    }
}
