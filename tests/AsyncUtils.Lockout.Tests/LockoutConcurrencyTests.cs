using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class LockoutConcurrencyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Fifo_order_holds_while_cancellations_race_with_the_release()
    {
        var random = new Random(99);
        for (int iteration = 0; iteration < 100; iteration++)
        {
            var time = new FakeTimeProvider();
            var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
            lockout.LockFor(TimeSpan.FromSeconds(1));
            var entered = new ConcurrentQueue<int>();
            var sources = Enumerable.Range(0, 20).Select(_ => new CancellationTokenSource()).ToArray();
            bool[] cancel = [.. sources.Select(_ => random.Next(3) == 0)];
            var waiters = Enumerable.Range(0, 20).Select(i => Enter(i, sources[i].Token)).ToArray();

            var canceller = new Thread(() =>
            {
                for (int i = 0; i < cancel.Length; i++)
                {
                    if (cancel[i])
                    {
                        sources[i].Cancel();
                    }
                }
            });
            canceller.Start();
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.That(canceller.Join(Bound), Is.True);

            for (int i = 0; i < waiters.Length; i++)
            {
                try
                {
                    await waiters[i].WaitAsync(Bound);
                }
                catch (OperationCanceledException)
                {
                    Assert.That(cancel[i], Is.True, $"iteration {iteration}: only cancelled waiters may throw");
                }
            }

            int[] order = [.. entered];
            Assert.That(order, Is.Ordered, $"iteration {iteration}");
            Assert.That(Enumerable.Range(0, 20).Where(i => !cancel[i]), Is.SubsetOf(order), $"iteration {iteration}");
            Assert.That(lockout.WaitingCount, Is.Zero);
            foreach (CancellationTokenSource source in sources)
            {
                source.Dispose();
            }

            async Task Enter(int id, CancellationToken token)
            {
                await lockout.EnterAsync(token).ConfigureAwait(false);
                entered.Enqueue(id);
            }
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Callers_that_relock_while_others_enter_all_get_through(bool fifo)
    {
        // Real clock on purpose, with lockouts of a few milliseconds: nobody may be stranded when
        // lockouts, timers, waiters and releases overlap on several threads (bounded: ~1 s).
        var lockout = new Lockout(new LockoutOptions { Fifo = fifo });
        int entries = 0;

        async Task Worker(int seed)
        {
            var random = new Random(seed);
            for (int i = 0; i < 40; i++)
            {
                await lockout.EnterAsync().ConfigureAwait(false);
                Interlocked.Increment(ref entries);
                if (random.Next(8) == 0)
                {
                    lockout.LockFor(TimeSpan.FromMilliseconds(random.Next(1, 4)));
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 6).Select(seed => Task.Run(() => Worker(seed)))).WaitAsync(Bound);
        Assert.That(entries, Is.EqualTo(6 * 40));
        Assert.That(lockout.WaitingCount, Is.Zero);
    }
}
