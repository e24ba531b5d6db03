using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Coyote.Tests;

/// <summary>The lockout's FIFO release chain: timer, new lockouts, late arrivals and cancellations racing it.</summary>
public sealed class LockoutScenarios
{
    private static readonly TimeSpan Ten = TimeSpan.FromSeconds(10);

    [Test]
    public void Fifo_waiters_enter_in_arrival_order_when_a_new_lockout_races_the_release()
    {
        CoyoteRunner.AssertNoBug(Budget.Lockout, async () =>
        {
            var time = new FakeTimeProvider();
            DateTimeOffset end = time.GetUtcNow() + Ten;
            var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
            lockout.LockFor(Ten);
            var entered = new List<int>();

            Task first = Enter(lockout, time, end, entered, 0, CancellationToken.None);
            Task second = Enter(lockout, time, end, entered, 1, CancellationToken.None);
            Task release = Task.Run(() => time.Advance(Ten));
            Task relock = Task.Run(() => lockout.LockFor(TimeSpan.FromSeconds(5)));
            await Task.WhenAll(release, relock);

            // A caller arriving now, while the new lockout may hold back what is left of the
            // queue, must queue behind it. (It does not race the timer: a caller that finds the
            // lockout over before its timer fired starts the release chain on the thread pool,
            // which Coyote cannot control; see README.md.)
            Task late = Enter(lockout, time, end, entered, 2, CancellationToken.None);
            time.Advance(Ten); // every lockout is over now
            await Task.WhenAll(first, second, late);

            lock (entered)
            {
                Check.Equal("0,1,2", string.Join(",", entered), "entry order");
            }

            Check.Equal(0, lockout.WaitingCount, "waiting count after everyone entered");
            Check.That(lockout.TryEnter(), "the lockout is open again once every lockout ended and nobody waits");
        });
    }

    [Test]
    public void Fifo_waiter_cancelled_while_the_release_chain_runs_strands_nobody()
    {
        CoyoteRunner.AssertNoBug(Budget.Lockout, async () =>
        {
            var time = new FakeTimeProvider();
            DateTimeOffset end = time.GetUtcNow() + Ten;
            var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
            lockout.LockFor(Ten);
            var entered = new List<int>();
            using var cancel = new CancellationTokenSource();

            Task first = Enter(lockout, time, end, entered, 0, CancellationToken.None);
            Task second = Enter(lockout, time, end, entered, 1, cancel.Token);
            Task third = Enter(lockout, time, end, entered, 2, CancellationToken.None);
            Task release = Task.Run(() => time.Advance(Ten));
            Task canceller = Task.Run(cancel.Cancel);
            await Task.WhenAll(release, canceller);
            await first;
            bool secondEntered = await Check.SucceedsOrIsCancelled(second);
            await third;

            lock (entered)
            {
                Check.Equal(secondEntered ? "0,1,2" : "0,2", string.Join(",", entered), "entry order");
            }

            Check.Equal(0, lockout.WaitingCount, "waiting count after everyone left the queue");
            Check.That(lockout.TryEnter(), "the lockout is open again once the lockout ended and nobody waits");
        });
    }

    private static async Task Enter(Lockout lockout, FakeTimeProvider time, DateTimeOffset end, List<int> entered, int id, CancellationToken token)
    {
        // ConfigureAwait(false): the FIFO chain runs each waiter's continuation inline, in order.
        await lockout.EnterAsync(token).ConfigureAwait(false);
        Check.That(time.GetUtcNow() >= end, $"waiter {id} entered before the lockout ended");
        lock (entered)
        {
            entered.Add(id);
        }
    }
}
