using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class LruMetricsTests
{
    private const string Meter = "AsyncUtils.Lru";
    private const string NameTag = "asyncutils.cache.name";

    [Test]
    public void Requests_evictions_size_and_capacity_are_published_with_the_caches_name()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var cache = new LruCache<int, string>(2, new LruCacheOptions<int, string> { Name = name, TrackStatistics = true });

        cache[1] = "a";
        cache[2] = "b";
        _ = cache.TryGetValue(1, out _); // hit
        _ = cache.TryGetValue(3, out _); // miss
        cache[3] = "c"; // evicts 2
        _ = cache.GetOrAdd(1, "x"); // hit
        _ = cache.GetOrAdd(4, "d"); // miss, evicts 3

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "hit")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "miss")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "capacity")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "expired")), Is.Zero);
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.size"), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.capacity"), Is.EqualTo(2));
            Assert.That(observed, Has.Count.EqualTo(6));
        });

        cache.Remove(1);
        Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.cache.size"), Is.EqualTo(1));
        GC.KeepAlive(cache);
    }

    [Test]
    public void Expirations_of_a_ttl_cache_are_published_as_evictions_for_the_reason_expired()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var time = new FakeTimeProvider();
        var cache = new TtlLruCache<int, int>(10, TimeSpan.FromSeconds(1), time, new LruCacheOptions<int, int> { Name = name });

        cache[1] = 1;
        cache[2] = 2;
        time.Advance(TimeSpan.FromSeconds(1));
        cache[3] = 3; // removes the two expired entries

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "expired")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "capacity")), Is.Zero);
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.size"), Is.EqualTo(1));
        });
        GC.KeepAlive(cache);
    }

    [Test]
    public void Without_TrackStatistics_no_request_count_is_published_and_reads_stay_uncounted()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var cache = new LruCache<int, int>(4, new LruCacheOptions<int, int> { Name = name });
        cache[1] = 1;
        _ = cache.TryGetValue(1, out _);

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(observed.Where(m => m.Instrument == "asyncutils.cache.requests"), Is.Empty);
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.size"), Is.EqualTo(1));
            Assert.That(cache.GetStatistics(), Is.Null);
        });
        GC.KeepAlive(cache);
    }

    [Test]
    public void A_cache_used_before_any_listener_works_and_a_later_listener_sees_its_counts()
    {
        string name = UniqueName();
        var cache = new LruCache<int, int>(1, new LruCacheOptions<int, int> { Name = name, TrackStatistics = true });
        cache[1] = 1;
        cache[2] = 2;
        Assert.That(cache.TryGetValue(2, out int value) && value == 2);

        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "capacity")), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "hit")), Is.EqualTo(1));
            Assert.That(recorder.Events, Is.Empty);
        });
        GC.KeepAlive(cache);
    }

    [Test]
    public void A_listener_that_throws_while_observing_does_not_touch_the_cache()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name) { OnRecorded = _ => throw new InvalidOperationException("observer") };
        var cache = new LruCache<int, int>(1, new LruCacheOptions<int, int> { Name = name, TrackStatistics = true });
        cache[1] = 1;

        Assert.That(() => recorder.Observe(), Throws.Exception); // thrown to the listener, on its own thread
        cache[2] = 2;
        Assert.Multiple(() =>
        {
            Assert.That(cache.TryGetValue(2, out int value) && value == 2);
            Assert.That(cache.GetStatistics(), Is.EqualTo(new LruCacheStatistics(1, 0, 1, 0)));
        });
    }

    [Test]
    public void A_collected_cache_disappears_from_the_measurements()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        CreateObservedAndDrop(recorder, name);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.That(recorder.Observe(), Is.Empty);
    }

    [Test]
    public void Caches_without_a_name_are_measured_without_the_name_tag()
    {
        var cache = new LruCache<int, int>(3);
        cache[1] = 1;
        var sizes = new List<(long Value, bool Tagged)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == Meter && instrument.Name == "asyncutils.cache.capacity")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, v, tags, _) =>
        {
            bool tagged = false;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                tagged |= tag.Key == NameTag;
            }

            sizes.Add((v, tagged));
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.That(sizes, Does.Contain((3L, false)));
        GC.KeepAlive(cache);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CreateObservedAndDrop(MetricsRecorder recorder, string name)
    {
        var cache = new LruCache<int, int>(7, new LruCacheOptions<int, int> { Name = name });
        Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.cache.capacity"), Is.EqualTo(7));
        GC.KeepAlive(cache);
    }

    private static string UniqueName() => $"lru-test-{Guid.NewGuid():N}";
}
