using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

public sealed class ConcurrencyTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Test]
    public void Threads_racing_for_permits_get_exactly_the_limit_in_each_window()
    {
        var time = new FakeTimeProvider();
        using var limiter = Limiter(time, 50, Second);
        for (int round = 0; round < 20; round++)
        {
            // The clock stands still while the threads race; it moves between rounds.
            int granted = 0;
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                for (int i = 0; i < 500; i++)
                {
                    RateLimitLease lease = (i + t) % 2 == 0 ? limiter.AttemptAcquire() : limiter.AcquireAsync().Result;
                    if (lease.IsAcquired)
                    {
                        Interlocked.Increment(ref granted);
                    }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => Assert.That(t.Join(Bound), Is.True));

            Assert.That(granted, Is.EqualTo(50), $"round {round}");
            time.Advance(Second);
        }
    }

    [Test]
    public async Task Cancellations_racing_with_grants_and_hand_backs_never_lose_or_duplicate_a_permit()
    {
        const int limit = 3;
        const int waiters = 16;
        var random = new Random(12345);
        for (int iteration = 0; iteration < 300; iteration++)
        {
            var time = new FakeTimeProvider();
            using var limiter = Limiter(time, limit, Second, queueLimit: 100);
            limiter.AttemptAcquire(limit);
            var sources = Enumerable.Range(0, waiters).Select(_ => new CancellationTokenSource()).ToArray();
            var tasks = sources.Select(s => limiter.AcquireAsync(1, s.Token)).ToArray();
            bool[] cancel = [.. Enumerable.Range(0, waiters).Select(_ => random.Next(3) == 0)];

            // The first `limit` waiters are granted now; the cancellations then race on two threads
            // with each other, with the hand-backs they cause and with the grants those trigger.
            time.Advance(Second);
            var cancellers = Enumerable.Range(0, 2).Select(part => new Thread(() =>
            {
                for (int i = part; i < waiters; i += 2)
                {
                    if (cancel[i])
                    {
                        sources[i].Cancel();
                    }
                }
            })).ToList();
            cancellers.ForEach(t => t.Start());
            cancellers.ForEach(t => Assert.That(t.Join(Bound), Is.True));

            int granted = 0;
            for (int i = 0; i < waiters; i++)
            {
                if (cancel[i])
                {
                    await Assert.CatchAsync<OperationCanceledException>(async () => await tasks[i].AsTask().WaitAsync(Bound), $"iteration {iteration}, waiter {i}");
                }
                else if (tasks[i].IsCompleted)
                {
                    Assert.That((await tasks[i]).IsAcquired, Is.True);
                    granted++;
                }
            }

            int notCancelled = cancel.Count(c => !c);
            Assert.That(granted, Is.EqualTo(Math.Min(limit, notCancelled)), $"iteration {iteration}");
            Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(limit - granted), $"iteration {iteration}");
            Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(1 + granted), $"iteration {iteration}: handed-back grants are not counted");
            foreach (CancellationTokenSource source in sources)
            {
                source.Dispose();
            }
        }
    }
}
