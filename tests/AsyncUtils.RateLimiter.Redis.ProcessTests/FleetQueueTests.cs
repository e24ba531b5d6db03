using System.Diagnostics;

namespace AsyncUtils.Tests;

/// <summary>
/// The fleet-wide FIFO queue of RedisSlidingLogRateLimiter across real processes (each its own
/// connection): order of arrival at the server is order of grant, a cancelled or disposed waiter
/// gives its turn to the next one at once, and a dead process strands nobody. Limit 1 per window, so
/// every grant has its own server time and the order is plain to see.
/// </summary>
public sealed class FleetQueueTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(700);
    private static readonly long WindowMicros = Window.Ticks / 10;

    [Test]
    public async Task Waiters_in_several_processes_are_granted_in_order_of_arrival_one_window_apart_and_a_newcomer_does_not_pass_them()
    {
        string name = RedisFixture.UniqueName("fifo");
        await using ScriptProcess a = await StartAsync("A", name);
        await using ScriptProcess b = await StartAsync("B", name);
        await using ScriptProcess c = await StartAsync("C", name);
        await using ScriptProcess d = await StartAsync("D", name);

        await a.AcquireAsync("a1");
        long first = await a.GrantedAsync("a1");

        // Each waiter is in the Redis queue before the next one is sent, so the arrival order is known.
        (ScriptProcess Process, string Id)[] order = [(b, "b1"), (c, "c1"), (d, "d1"), (b, "b2"), (a, "a2")];
        for (int i = 0; i < order.Length; i++)
        {
            await order[i].Process.AcquireAsync(order[i].Id);
            await WaitForQueueLengthAsync(name, i + 1);
        }

        long previous = first;
        foreach ((ScriptProcess process, string id) in order)
        {
            long granted = await process.GrantedAsync(id);
            Assert.That(granted - previous, Is.GreaterThanOrEqualTo(WindowMicros),
                $"{id} was granted {(granted - previous) / 1000.0} ms after the grant before it: less than one window, or out of order");
            previous = granted;
        }

        Assert.That(QueueLength(name), Is.Zero);
    }

    [Test]
    public async Task A_cancelled_waiter_leaves_the_queue_at_once_and_the_next_process_gets_its_turn()
    {
        string name = RedisFixture.UniqueName("cancel");
        await using ScriptProcess a = await StartAsync("A", name);
        await using ScriptProcess b = await StartAsync("B", name);
        await using ScriptProcess c = await StartAsync("C", name);

        await a.AcquireAsync("a1");
        long first = await a.GrantedAsync("a1");
        await b.AcquireAsync("b1");
        await WaitForQueueLengthAsync(name, 1);
        await c.AcquireAsync("c1");
        await WaitForQueueLengthAsync(name, 2);
        await b.AcquireAsync("b2");
        await WaitForQueueLengthAsync(name, 3);

        var clock = Stopwatch.StartNew();
        await b.CancelAsync("b1");
        string outcome = await b.OutcomeAsync("b1");
        Assert.That(outcome, Is.EqualTo("cancelled b1"));
        Assert.That(clock.Elapsed, Is.LessThan(Window), "the cancelled waiter must complete at once, not at its turn");
        await WaitForQueueLengthAsync(name, 2);

        long c1 = await c.GrantedAsync("c1");
        long b2 = await b.GrantedAsync("b2");
        Assert.That(c1 - first, Is.GreaterThanOrEqualTo(WindowMicros).And.LessThan(2 * WindowMicros),
            "c1 takes the turn the cancelled b1 gave up: the first free slot, one window after a1");
        Assert.That(b2 - c1, Is.GreaterThanOrEqualTo(WindowMicros));
    }

    [Test]
    public async Task Disposing_a_limiter_completes_its_waiters_and_takes_its_tickets_out_of_the_fleet_queue()
    {
        string name = RedisFixture.UniqueName("dispose");
        await using ScriptProcess a = await StartAsync("A", name);
        await using ScriptProcess b = await StartAsync("B", name);
        await using ScriptProcess c = await StartAsync("C", name);

        await a.AcquireAsync("a1");
        long first = await a.GrantedAsync("a1");
        await b.AcquireAsync("b1");
        await b.AcquireAsync("b2");
        await WaitForQueueLengthAsync(name, 2);
        await c.AcquireAsync("c1");
        await WaitForQueueLengthAsync(name, 3);

        var clock = Stopwatch.StartNew();
        await b.Process.WriteLineAsync("dispose");
        string b1 = await b.OutcomeAsync("b1");
        string b2 = await b.OutcomeAsync("b2");
        await b.Process.WaitForLineAsync(line => line == "disposed", "disposed");
        Assert.That(clock.Elapsed, Is.LessThan(Window), "dispose must complete the waiters at once");
        Assert.That(new[] { b1, b2 }, Has.None.StartsWith("granted"), "a disposed limiter's waiters are not granted");

        long c1 = await c.GrantedAsync("c1");
        Assert.That(c1 - first, Is.GreaterThanOrEqualTo(WindowMicros).And.LessThan(2 * WindowMicros),
            "c1 is next once the disposed process's tickets are gone: one window after a1, not after their turns or their timeout");
    }

    [Test]
    public async Task A_killed_process_strands_nobody_its_tickets_expire_after_the_ticket_timeout()
    {
        string name = RedisFixture.UniqueName("killed");
        TimeSpan ticketTimeout = TimeSpan.FromMilliseconds(800);
        await using ScriptProcess a = await StartAsync("A", name, ticketTimeout);
        await using ScriptProcess b = await StartAsync("B", name, ticketTimeout);
        await using ScriptProcess c = await StartAsync("C", name, ticketTimeout);

        await a.AcquireAsync("a1");
        long first = await a.GrantedAsync("a1");
        await b.AcquireAsync("b1");
        await b.AcquireAsync("b2");
        await WaitForQueueLengthAsync(name, 2);
        await c.AcquireAsync("c1");
        await WaitForQueueLengthAsync(name, 3);

        b.Process.Kill();

        // b1 may still be granted on B's behalf when C's call serves the queue head at a1 + window (a
        // dead process cannot hand it back); b2's ticket must then expire within the ticket timeout
        // after B's promised wake-up, so c1 comes at the latest one window after that.
        long c1 = await c.GrantedAsync("c1", TimeSpan.FromSeconds(15));
        long bound = (3 * WindowMicros) + (ticketTimeout.Ticks / 10) + 1_000_000;
        Assert.That(c1 - first, Is.GreaterThanOrEqualTo(WindowMicros).And.LessThan(bound),
            $"c1 waited {(c1 - first) / 1000.0} ms after a1 (bound {bound / 1000.0} ms)");
        await WaitForQueueLengthAsync(name, 0);
    }

    private static Task<ScriptProcess> StartAsync(string label, string name, TimeSpan? ticketTimeout = null) =>
        ScriptProcess.StartAsync(RedisFixture.Server, label, name, limit: 1, Window, queueLimit: 4, ticketTimeout: ticketTimeout);

    /// <summary>The fleet queue's length, read from the limiter's queue key (asyncutils:rl:{name}:q, a sorted set).</summary>
    private static int QueueLength(string name)
    {
        string reply = RedisFixture.Server.Command("ZCARD", "asyncutils:rl:{" + name + "}:q");
        Assert.That(reply, Does.StartWith(":"), $"ZCARD answered {reply}");
        return int.Parse(reply.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task WaitForQueueLengthAsync(string name, int length)
    {
        var clock = Stopwatch.StartNew();
        int seen;
        while ((seen = QueueLength(name)) != length)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                Assert.Fail($"the fleet queue of {name} holds {seen} tickets, expected {length}");
            }

            await Task.Delay(10);
        }
    }
}
