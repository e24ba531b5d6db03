namespace AsyncUtils.Coyote.Tests;

using Semaphore = AsyncUtils.PrioritySemaphore;

/// <summary>The semaphore's grant/cancel race and its count.</summary>
public sealed class PrioritySemaphoreScenarios
{
    [Test]
    public void Waiter_cancelled_while_Release_grants_it_never_loses_the_permit()
    {
        CoyoteRunner.AssertNoBug(Budget.PrioritySemaphore, async () =>
        {
            var semaphore = new Semaphore(0, 10);
            using var cancel = new CancellationTokenSource();
            Task<bool> first = Acquire(semaphore, cancel.Token);
            Task<bool> second = Acquire(semaphore, CancellationToken.None);

            // One permit in the system, racing the first waiter's cancellation.
            await Task.WhenAll(Task.Run(() => semaphore.Release()), Task.Run(cancel.Cancel));

            if (await first)
            {
                semaphore.Release(); // the first waiter got it and gives it back: the second must get it
            }

            Check.That(await second, "the second waiter got the permit"); // a lost permit strands it: Coyote reports the deadlock
            semaphore.Release();
            Check.Equal(1, semaphore.CurrentCount, "count after every holder released");
            Check.Equal(0, semaphore.WaitingCount, "waiting count");
        });
    }

    [Test]
    public void Holders_never_exceed_the_count_when_a_waiter_cancels()
    {
        CoyoteRunner.AssertNoBug(Budget.PrioritySemaphore, async () =>
        {
            var semaphore = new Semaphore(1, 1);
            var inside = new int[1];
            using var cancel = new CancellationTokenSource();
            Task<bool>[] workers =
            [
                Task.Run(() => Hold(semaphore, inside, CancellationToken.None)),
                Task.Run(() => Hold(semaphore, inside, cancel.Token)),
                Task.Run(() => Hold(semaphore, inside, CancellationToken.None)),
            ];
            await Task.Run(cancel.Cancel);
            bool[] outcomes = await Task.WhenAll(workers);
            Check.That(outcomes[0] && outcomes[2], "the workers that did not cancel got in");
            Check.Equal(1, semaphore.CurrentCount, "count after everyone left");
            Check.Equal(0, semaphore.WaitingCount, "waiting count");
        });
    }

    private static async Task<bool> Acquire(Semaphore semaphore, CancellationToken token)
    {
        try
        {
            await semaphore.WaitAsync(token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> Hold(Semaphore semaphore, int[] inside, CancellationToken token)
    {
        if (!await Acquire(semaphore, token).ConfigureAwait(false))
        {
            return false;
        }

        Check.That(Interlocked.Increment(ref inside[0]) == 1, "two holders inside a semaphore of count 1");
        await Task.Yield();
        Interlocked.Decrement(ref inside[0]);
        semaphore.Release();
        return true;
    }
}
