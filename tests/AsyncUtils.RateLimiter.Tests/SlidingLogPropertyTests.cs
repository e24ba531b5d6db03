using System.Globalization;
using System.Text;
using System.Threading.RateLimiting;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

/// <summary>
/// Random arrival schedules on a fake clock, compared with a reference model that applies the
/// definition directly (a request is granted at the first millisecond at which every window, over
/// the grants made so far, has room for it, after every request queued ahead of it). Every time in
/// a schedule is a whole number of milliseconds, so the model's millisecond steps see every moment
/// at which a permit can free, and the limiter must grant at exactly the model's millisecond:
/// neither early (which would overfill a window) nor late (which would keep a waiter longer than
/// needed), and every lease's retry-after must be the model's exactly (for a refusal behind a
/// queue, after every queued request is served). Independently of the model, every grant is
/// checked against every window.
/// </summary>
public sealed class SlidingLogPropertyTests
{
    private sealed record Window(int Limit, int PeriodMs);

    private sealed record Arrival(int AtMs, int Permits, bool Waits);

    private sealed record Scenario(Window[] Windows, int QueueLimit, Arrival[] Arrivals)
    {
        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"windows [{string.Join(", ", Windows.Select(w => $"{w.Limit}/{w.PeriodMs}ms"))}], queue {QueueLimit}, arrivals ");
            text.AppendJoin(", ", Arrivals.Select(a => $"{(a.Waits ? "Acquire" : "Attempt")}({a.Permits})@{a.AtMs}"));
            return text.ToString();
        }
    }

    /// <summary>What happened to one request: granted at a millisecond, refused at once, with the lease's retry-after.</summary>
    private readonly record struct Outcome(int? GrantedAtMs, bool Refused, TimeSpan? RetryAfter);

    private static readonly Gen<Scenario> Scenarios =
        from first in Gen.Select(Gen.Int[1, 4], Gen.Int[2, 30], (l, p) => new Window(l, p))
        from hasSecond in Gen.Bool
        from second in Gen.Select(Gen.Int[1, 8], Gen.Int[1, 60], (l, p) => new Window(l, p))
        from queueLimit in Gen.Int[0, 8]
        let windows = hasSecond ? new[] { first, second } : new[] { first }
        let maxPermits = windows.Min(w => w.Limit)
        from arrivals in Gen.Select(Gen.Int[0, 120], Gen.Int[0, 4], Gen.Int[0, 3], (t, n, kind) => new Arrival(t, Math.Min(n, maxPermits), kind != 0)).Array[1, 25]
        select new Scenario(windows, queueLimit, [.. arrivals.OrderBy(a => a.AtMs)]);

    [Test]
    public void Random_schedules_match_the_model_exactly_and_no_window_ever_holds_more_than_its_limit()
    {
        Scenarios.Sample(scenario =>
        {
            Outcome[] actual = RunLimiter(scenario);
            Outcome[] expected = RunModel(scenario);
            for (int i = 0; i < expected.Length; i++)
            {
                if (actual[i] != expected[i])
                {
                    throw new InvalidOperationException($"request {i} ({scenario.Arrivals[i]}): limiter {actual[i]}, model {expected[i]}");
                }
            }

            AssertNoWindowOverfilled(scenario, actual);
        }, iter: 400);
    }

    private static Outcome[] RunLimiter(Scenario scenario)
    {
        var time = new FakeTimeProvider();
        var options = new SlidingLogRateLimiterOptions { QueueLimit = scenario.QueueLimit, TimeProvider = time };
        foreach (Window w in scenario.Windows)
        {
            options.Windows.Add(new SlidingLogWindow(w.Limit, TimeSpan.FromMilliseconds(w.PeriodMs)));
        }

        using var limiter = new SlidingLogRateLimiter(options);
        var outcomes = new Outcome?[scenario.Arrivals.Length];
        var pending = new List<(int Index, ValueTask<RateLimitLease> Task)>();
        int next = 0;
        for (int now = 0; now < 5_000 && (next < scenario.Arrivals.Length || pending.Count > 0); now++)
        {
            if (now > 0)
            {
                // Timers fire inside Advance; a grant is visible at once on the returned task.
                time.Advance(TimeSpan.FromMilliseconds(1));
            }

            for (int p = pending.Count - 1; p >= 0; p--)
            {
                if (pending[p].Task.IsCompleted)
                {
                    RateLimitLease lease = pending[p].Task.Result;
                    outcomes[pending[p].Index] = lease.IsAcquired
                        ? new Outcome(now, false, RetryAfter(lease))
                        : throw new InvalidOperationException($"queued request {pending[p].Index} failed");
                    pending.RemoveAt(p);
                }
            }

            for (; next < scenario.Arrivals.Length && scenario.Arrivals[next].AtMs == now; next++)
            {
                Arrival arrival = scenario.Arrivals[next];
                if (!arrival.Waits)
                {
                    RateLimitLease lease = limiter.AttemptAcquire(arrival.Permits);
                    outcomes[next] = new Outcome(lease.IsAcquired ? now : null, !lease.IsAcquired, RetryAfter(lease));
                    continue;
                }

                ValueTask<RateLimitLease> acquire = limiter.AcquireAsync(arrival.Permits);
                if (acquire.IsCompleted)
                {
                    RateLimitLease lease = acquire.Result;
                    outcomes[next] = new Outcome(lease.IsAcquired ? now : null, !lease.IsAcquired, RetryAfter(lease));
                }
                else
                {
                    pending.Add((next, acquire));
                }
            }
        }

        if (pending.Count > 0)
        {
            throw new InvalidOperationException($"{pending.Count} waiter(s) never granted");
        }

        return [.. outcomes.Select(o => o!.Value)];
    }

    /// <summary>The definition, applied one millisecond at a time.</summary>
    private static Outcome[] RunModel(Scenario scenario)
    {
        var grants = new List<(int AtMs, int Permits)>();
        var outcomes = new Outcome[scenario.Arrivals.Length];
        var queue = new Queue<int>();
        int queued = 0;
        int next = 0;

        bool FitsOver(List<(int AtMs, int Permits)> over, int now, int permits) =>
            scenario.Windows.All(w => over.Where(g => g.AtMs > now - w.PeriodMs).Sum(g => g.Permits) + Math.Max(permits, 1) <= w.Limit);
        bool Fits(int now, int permits) => FitsOver(grants, now, permits);
        int ReadyAt(List<(int AtMs, int Permits)> over, int now, int permits)
        {
            int t = now;
            while (!FitsOver(over, t, permits))
            {
                t++;
            }

            return t;
        }

        TimeSpan RetryAfterGrant(int now) => TimeSpan.FromMilliseconds(ReadyAt(grants, now, 1) - now);

        // The earliest moment a request refused now could be granted: the queued requests are
        // served first, in order, each at the first millisecond at which it fits over the grants
        // before it (made and simulated); then this request, at the first millisecond after that
        // at which it fits.
        TimeSpan RetryAfterRefusal(int now, int permits)
        {
            var simulated = new List<(int AtMs, int Permits)>(grants);
            int t = now;
            foreach (int index in queue)
            {
                int queuedPermits = scenario.Arrivals[index].Permits;
                t = ReadyAt(simulated, t, queuedPermits);
                simulated.Add((t, queuedPermits));
            }

            return TimeSpan.FromMilliseconds(ReadyAt(simulated, t, permits) - now);
        }

        for (int now = 0; next < scenario.Arrivals.Length || queue.Count > 0; now++)
        {
            while (queue.Count > 0 && Fits(now, scenario.Arrivals[queue.Peek()].Permits))
            {
                int index = queue.Dequeue();
                int permits = scenario.Arrivals[index].Permits;
                queued -= Math.Max(permits, 1);
                grants.Add((now, permits));
                outcomes[index] = new Outcome(now, false, RetryAfterGrant(now));
            }

            for (; next < scenario.Arrivals.Length && scenario.Arrivals[next].AtMs == now; next++)
            {
                Arrival arrival = scenario.Arrivals[next];
                if (queue.Count == 0 && Fits(now, arrival.Permits))
                {
                    grants.Add((now, arrival.Permits));
                    outcomes[next] = new Outcome(now, false, RetryAfterGrant(now));
                }
                else if (!arrival.Waits || queued + Math.Max(arrival.Permits, 1) > scenario.QueueLimit)
                {
                    // A zero-permit request waits for one permit, so it takes one place in the queue.
                    outcomes[next] = new Outcome(null, true, RetryAfterRefusal(now, arrival.Permits));
                }
                else
                {
                    queue.Enqueue(next);
                    queued += Math.Max(arrival.Permits, 1);
                }
            }
        }

        return outcomes;
    }

    private static void AssertNoWindowOverfilled(Scenario scenario, Outcome[] outcomes)
    {
        var grants = outcomes.Select((o, i) => (o.GrantedAtMs, scenario.Arrivals[i].Permits)).Where(g => g.GrantedAtMs is not null).ToList();
        foreach (Window w in scenario.Windows)
        {
            foreach ((int? at, _) in grants)
            {
                int held = grants.Where(g => g.GrantedAtMs > at - w.PeriodMs && g.GrantedAtMs <= at).Sum(g => g.Permits);
                if (held > w.Limit)
                {
                    throw new InvalidOperationException($"window {w} holds {held} permits at {at} ms");
                }
            }
        }
    }
}
