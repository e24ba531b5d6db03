using System.Globalization;

namespace AsyncUtils.Tests;

/// <summary>
/// RedisLockout (AsyncUtils.Lockout.Redis) across real processes, each with its own connection and
/// a skewed clock: a lockout set in one process reaches the others within the staleness bound (one
/// round trip plus the pub/sub delivery) and ends in every process at the same real moment, because
/// each process corrects for its measured offset from the server's clock; a process that starts
/// during the lockout catches up. Times are real system time on one machine, so they compare.
/// </summary>
public sealed class FleetLockoutTests
{
    // The staleness bound is a round trip plus a pub/sub delivery (about a millisecond here); the
    // margin is for a loaded machine. Without the offset correction the skewed processes would be
    // off by their skew (500 ms and 300 ms), far outside the tolerance.
    private const long PropagationBoundMicros = 250_000;
    private const long EndToleranceMicros = 100_000;

    [Test]
    public async Task A_lockout_set_in_one_process_reaches_the_others_within_the_bound_and_ends_at_the_same_moment_whatever_their_clocks()
    {
        string name = RedisFixture.UniqueName("lockout");
        await using AppProcess a = Start("A (skew 0)", name, 0);
        await using AppProcess b = Start("B (skew +500 ms)", name, 500);
        await using AppProcess c = Start("C (skew -300 ms)", name, -300);
        foreach (AppProcess p in new[] { a, b, c })
        {
            await p.WaitForLineStartingAsync("ready");
        }

        await a.WriteLineAsync("lock 2500");
        long locking = Micros(await a.WaitForLineStartingAsync("locking "));
        long aSeen = Micros(await a.WaitForLineStartingAsync("seen "));
        long bSeen = Micros(await b.WaitForLineStartingAsync("seen "));
        long cSeen = Micros(await c.WaitForLineStartingAsync("seen "));

        // A process started during the lockout catches up from Redis when it starts.
        await using AppProcess d = Start("D (skew +200 ms, started during the lockout)", name, 200);
        await d.WaitForLineStartingAsync("ready");
        long dSeen = Micros(await d.WaitForLineStartingAsync("seen "));

        long aCleared = Micros(await a.WaitForLineStartingAsync("cleared "));
        long bCleared = Micros(await b.WaitForLineStartingAsync("cleared "));
        long cCleared = Micros(await c.WaitForLineStartingAsync("cleared "));
        long dCleared = Micros(await d.WaitForLineStartingAsync("cleared "));
        Assume.That(dSeen, Is.LessThan(aCleared), "D took longer to start than the lockout lasted");
        await TestContext.Out.WriteLineAsync(
            $"seen after (ms): A {(aSeen - locking) / 1000.0}, B {(bSeen - locking) / 1000.0}, C {(cSeen - locking) / 1000.0}; " +
            $"A open after {(aCleared - locking) / 1000.0} ms; B, C, D opened {(bCleared - aCleared) / 1000.0}, {(cCleared - aCleared) / 1000.0}, {(dCleared - aCleared) / 1000.0} ms after A");

        Assert.Multiple(() =>
        {
            Assert.That(aSeen - locking, Is.LessThan(PropagationBoundMicros), "the locking process is locked at once");
            Assert.That(bSeen - locking, Is.LessThan(PropagationBoundMicros), "B saw the lockout late");
            Assert.That(cSeen - locking, Is.LessThan(PropagationBoundMicros), "C saw the lockout late");
            Assert.That(aCleared - locking, Is.InRange(2_400_000L, 2_500_000L + EndToleranceMicros), "A's own lockout lasts its 2.5 s");
            Assert.That(Math.Abs(bCleared - aCleared), Is.LessThan(EndToleranceMicros), $"B (clock 500 ms fast) opened {(bCleared - aCleared) / 1000.0} ms after A");
            Assert.That(Math.Abs(cCleared - aCleared), Is.LessThan(EndToleranceMicros), $"C (clock 300 ms slow) opened {(cCleared - aCleared) / 1000.0} ms after A");
            Assert.That(Math.Abs(dCleared - aCleared), Is.LessThan(EndToleranceMicros), $"D (started during the lockout) opened {(dCleared - aCleared) / 1000.0} ms after A");
        });
    }

    private static AppProcess Start(string label, string name, int skewMs) =>
        AppProcess.Start(AppProcess.TestApp, label, "lockout", RedisFixture.Server.ConnectionString, name, Fleet.Text(skewMs));

    private static long Micros(string line) => long.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
}
