using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Waterfall.Tests;

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
}
