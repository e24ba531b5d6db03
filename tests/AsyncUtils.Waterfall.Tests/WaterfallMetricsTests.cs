using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class WaterfallMetricsTests
{
    [Test]
    public async Task Batches_and_batch_sizes_are_published_by_flush_reason_with_the_waterfalls_name()
    {
        string name = $"metrics-test-{Guid.NewGuid():N}";
        var batches = new ConcurrentQueue<(string Instrument, long Value, string? Reason)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "AsyncUtils.Waterfall")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },

            // On .NET 8, disposing a listener without this callback leaves the instruments enabled.
            MeasurementsCompleted = (_, _) => { },
        };
        void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? reason = null;
            bool ours = false;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                reason = tag.Key == "asyncutils.waterfall.flush_reason" ? (string?)tag.Value : reason;
                ours |= tag.Key == "asyncutils.waterfall.name" && Equals(tag.Value, name);
            }

            if (ours)
            {
                batches.Enqueue((instrument.Name, value, reason));
            }
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        var time = new FakeTimeProvider();
        var waterfall = new Waterfall<int>(
            (batch, _) => batch[0] == 0 ? throw new InvalidDataException() : ValueTask.CompletedTask,
            new WaterfallOptions { MaxBatchSize = 3, MaxWait = TimeSpan.FromSeconds(1), MaxConcurrentBatches = 1, TimeProvider = time, Name = name });
        waterfall.Start();
        for (int i = 0; i < 3; i++)
        {
            waterfall.Put(i); // count
        }

        waterfall.Put(3);
        time.Advance(TimeSpan.FromSeconds(1)); // time
        waterfall.Put(4);
        waterfall.Put(5);
        await waterfall.StopAsync().WaitAsync(TimeSpan.FromSeconds(30)); // stop

        var byInstrument = batches.GroupBy(b => b.Instrument).ToDictionary(g => g.Key, g => g.ToList());
        Assert.That(byInstrument["asyncutils.waterfall.batches"].Select(b => (b.Value, b.Reason)),
            Is.EquivalentTo(new[] { (1L, "count"), (1L, "time"), (1L, "stop") }));
        Assert.That(byInstrument["asyncutils.waterfall.batch.size"].Select(b => (b.Value, b.Reason)),
            Is.EquivalentTo(new[] { (3L, "count"), (1L, "time"), (2L, "stop") }));
        Assert.That(byInstrument["asyncutils.waterfall.callback.failures"].Select(b => b.Value), Is.EqualTo(new[] { 1L }));
    }
    [TestCase(false)]
    [TestCase(true)]
    public async Task A_meter_listener_that_throws_loses_no_batch_and_does_not_hang_the_stop(bool ordered)
    {
        string name = $"throwing-listener-{Guid.NewGuid():N}";
        int measurements = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "AsyncUtils.Waterfall")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },

            // On .NET 8, disposing a listener without this callback leaves the instruments enabled.
            MeasurementsCompleted = (_, _) => { },
        };
        void Throw(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "asyncutils.waterfall.name" && Equals(tag.Value, name))
                {
                    Interlocked.Increment(ref measurements);
                    throw new InvalidOperationException("a faulty listener");
                }
            }
        }

        listener.SetMeasurementEventCallback<long>((_, _, t, _) => Throw(t));
        listener.SetMeasurementEventCallback<int>((_, _, t, _) => Throw(t));
        listener.Start();

        var delivered = new ConcurrentQueue<int>();
        int failuresReported = 0;
        var waterfall = new Waterfall<int>(
            (batch, _) =>
            {
                foreach (int item in batch)
                {
                    delivered.Enqueue(item);
                }

                return batch[0] == 0 ? throw new InvalidDataException() : ValueTask.CompletedTask;
            },
            new WaterfallOptions { MaxBatchSize = 2, MaxConcurrentBatches = 1, OrderedDelivery = ordered, TimeProvider = new FakeTimeProvider(), Name = name });
        waterfall.CallbackFailed += (_, _) => Interlocked.Increment(ref failuresReported);
        waterfall.Start();
        for (int i = 0; i < 9; i++)
        {
            waterfall.Put(i);
        }

        Task stop = waterfall.StopAsync();
        Assert.That(await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(stop), "StopAsync hung");
        Assert.That(delivered.Order(), Is.EqualTo(Enumerable.Range(0, 9)));
        Assert.That(failuresReported, Is.EqualTo(1), "the failure the listener choked on is still reported");
        WaterfallStatistics stats = waterfall.GetStatistics();
        Assert.That((stats.Batches, stats.BatchesCompleted, stats.BatchesFailed), Is.EqualTo((5L, 5L, 1L)));
        Assert.That(measurements, Is.GreaterThan(0), "the listener saw (and threw on) our measurements");
    }
}
