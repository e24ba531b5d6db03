using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

/// <summary>
/// StopAsync racing producers on real threads (bounded): every item a <c>TryPut</c> accepted is
/// delivered exactly once, nothing refused is delivered, and the stop completes. This is the
/// scenario the Coyote project cannot control (the worker runs on the thread pool).
/// </summary>
public sealed class WaterfallStopRaceTests
{
    [TestCase(false, null)]
    [TestCase(false, 2)]
    [TestCase(true, 3)]
    public async Task StopAsync_racing_eight_producers_delivers_every_accepted_item_exactly_once(bool ordered, int? maxConcurrent)
    {
        for (int round = 0; round < 20; round++)
        {
            var delivered = new ConcurrentDictionary<long, int>();
            var waterfall = new Waterfall<long>(
                (batch, _) =>
                {
                    foreach (long item in batch)
                    {
                        delivered.AddOrUpdate(item, 1, (_, n) => n + 1);
                    }

                    return ValueTask.CompletedTask;
                },
                new WaterfallOptions { MaxBatchSize = 16, MaxWait = TimeSpan.FromMilliseconds(1), MaxConcurrentBatches = maxConcurrent, OrderedDelivery = ordered });
            waterfall.Start();

            using var start = new Barrier(9);
            var accepted = new ConcurrentBag<long>();
            Task[] producers = [.. Enumerable.Range(0, 8).Select(p => Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait();
                    for (long i = 0; i < 5_000; i++)
                    {
                        long item = (p * 1_000_000L) + i;
                        if (waterfall.TryPut(item))
                        {
                            accepted.Add(item);
                        }
                    }
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default))];

            start.SignalAndWait();
            Thread.SpinWait(1000 * round);
            Task stop = waterfall.StopAsync();
            await Task.WhenAll(producers).WaitAsync(TimeSpan.FromSeconds(30));
            await stop.WaitAsync(TimeSpan.FromSeconds(30));

            Assert.That(delivered.Keys.Order(), Is.EqualTo(accepted.Order()), $"round {round}: delivered = accepted");
            Assert.That(delivered.Values.Where(n => n != 1), Is.Empty, $"round {round}: delivered twice");
            await waterfall.DisposeAsync();
        }
    }
}
