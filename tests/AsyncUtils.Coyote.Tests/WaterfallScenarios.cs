using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Coyote.Tests;

/// <summary>The waterfall's stop racing producers: every accepted item is delivered exactly once.</summary>
public sealed class WaterfallScenarios
{
    // Explicit: the waterfall starts its worker with ThreadPool.UnsafeQueueUserWorkItem, which
    // Coyote 1.7 cannot intercept, and Coyote then stalls the uncontrolled worker at the rewritten
    // locks it shares with the controlled producers: every run ends in a false "stranded" report
    // after some dozens of iterations. The same scenario on real threads (3.2 million iterations,
    // both settings) never lost, duplicated or stranded an item. Starting the worker through a
    // Task (or a hook the tests can swap) would let Coyote control it; see README.md.
    [TestCase(null, Explicit = true, Reason = "Coyote cannot control the waterfall's thread-pool worker (false stranded reports); see README.md")]
    [TestCase(1, Explicit = true, Reason = "Coyote cannot control the waterfall's thread-pool worker (false stranded reports); see README.md")]
    public void StopAsync_racing_producers_delivers_every_accepted_item_exactly_once(int? maxConcurrentBatches)
    {
        CoyoteRunner.AssertNoBug(Budget.Waterfall, async () =>
        {
            var delivered = new List<int>();
            var accepted = new List<int>();
            var waterfall = new Waterfall<int>(
                (batch, _) =>
                {
                    Check.That(batch.Count is > 0 and <= 2, $"batch of {batch.Count} items");
                    lock (delivered)
                    {
                        delivered.AddRange(batch);
                    }

                    return default;
                },
                new WaterfallOptions { MaxBatchSize = 2, MaxWait = TimeSpan.FromHours(1), MaxConcurrentBatches = maxConcurrentBatches, TimeProvider = new FakeTimeProvider() });
            waterfall.Start();

            // The waterfall's worker is started with ThreadPool.UnsafeQueueUserWorkItem, which Coyote
            // does not control: the producers and the stop are interleaved systematically, the worker
            // runs beside them in real time, and its completion is awaited at scheduling points.
            Task race = Task.WhenAll(
                Task.Run(() => Produce(waterfall, accepted, 1, 3)),
                Task.Run(() => Produce(waterfall, accepted, 4, 5)),
                Task.Run(() => waterfall.StopAsync()));
            await Check.Settled(race, "the producers and the racing stop");
            Task stopped = waterfall.StopAsync();
            await Check.Settled(stopped, "StopAsync");
            await stopped;

            lock (delivered)
            {
                delivered.Sort();
                accepted.Sort();
                Check.Equal(string.Join(",", accepted), string.Join(",", delivered), "delivered items (each accepted item exactly once)");
            }
        });
    }

    private static void Produce(Waterfall<int> waterfall, List<int> accepted, int from, int to)
    {
        for (int item = from; item <= to; item++)
        {
            if (waterfall.TryPut(item))
            {
                lock (accepted)
                {
                    accepted.Add(item);
                }
            }
        }
    }
}
