using System.Runtime.CompilerServices;

namespace AsyncUtils.Tests;

public sealed class TaskCacheMetricsTests
{
    private const string Meter = "AsyncUtils.TaskCache";
    private const string NameTag = "asyncutils.cache.name";

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public async Task Requests_coalesced_calls_in_flight_evictions_and_size_are_published_with_the_caches_name(CacheEvictionPolicy policy)
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var cache = new TaskCache<string, int>(new TaskCacheOptions<string, int> { EvictionPolicy = policy, Name = name, TrackStatistics = true, MaxSize = 1 });
        var gate = new TaskCompletionSource<int>();

        Task<int> first = cache.GetOrAddAsync("a", (_, _) => gate.Task); // miss, starts the call
        Task<int> second = cache.GetOrAddAsync("a", (_, _) => gate.Task); // coalesced
        IReadOnlyList<MetricsRecorder.Recorded> running = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(running, "asyncutils.cache.calls.in_flight"), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(running, "asyncutils.cache.calls.coalesced"), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(running, "asyncutils.cache.size"), Is.EqualTo(1));
        });

        gate.SetResult(1);
        Assert.That(await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(30)), Is.All.EqualTo(1));
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => gate.Task), Is.EqualTo(1)); // hit
        Assert.That(await cache.GetOrAddAsync("b", (_, _) => Task.FromResult(7)), Is.EqualTo(7)); // miss, evicts a

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "hit")), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "miss")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.calls.coalesced"), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.calls.in_flight"), Is.Zero);
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "capacity")), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.size"), Is.EqualTo(1));
            Assert.That(observed, Has.Count.EqualTo(6));
        });
        GC.KeepAlive(cache);
    }

    [Test]
    public async Task Without_TrackStatistics_and_a_size_bound_only_the_size_is_published()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var cache = new TaskCache<string, int>(new TaskCacheOptions<string, int> { Name = name });
        Assert.That(await cache.GetOrAddAsync("b", (_, _) => Task.FromResult(7)), Is.EqualTo(7));
        Assert.That(await cache.GetOrAddAsync("b", (_, _) => Task.FromResult(7)), Is.EqualTo(7));

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(observed.Select(m => m.Instrument), Is.EqualTo(new[] { "asyncutils.cache.size" }));
            Assert.That(observed[0].Value, Is.EqualTo(1));
            Assert.That(cache.GetStatistics(), Is.Null);
        });
        GC.KeepAlive(cache);
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public async Task Evictions_of_a_bounded_cache_are_counted_without_TrackStatistics(CacheEvictionPolicy policy)
    {
        string name = UniqueName();
        var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { EvictionPolicy = policy, Name = name, MaxSize = 2 });
        for (int i = 0; i < 5; i++)
        {
            Assert.That(await cache.GetOrAddAsync(i, static (k, _) => Task.FromResult(k)), Is.EqualTo(i));
        }

        Assert.That(cache.Invalidate(4), Is.True); // removed, not evicted

        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "capacity")), Is.EqualTo(3));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.size"), Is.EqualTo(1));
            Assert.That(observed.Where(m => m.Instrument == "asyncutils.cache.requests"), Is.Empty);
            Assert.That(recorder.Events, Is.Empty);
        });
        GC.KeepAlive(cache);
    }

    [Test]
    public async Task A_listener_that_throws_while_observing_does_not_touch_the_cache()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name) { OnRecorded = _ => throw new InvalidOperationException("observer") };
        var cache = new TaskCache<string, int>(new TaskCacheOptions<string, int> { Name = name, TrackStatistics = true });
        Assert.That(await cache.GetOrAddAsync("b", (_, _) => Task.FromResult(7)), Is.EqualTo(7));

        Assert.That(() => recorder.Observe(), Throws.Exception);
        Assert.That(await cache.GetOrAddAsync("b", (_, _) => Task.FromResult(7)), Is.EqualTo(7));
        Assert.That(cache.GetStatistics(), Is.EqualTo(new TaskCacheStatistics(1, 1, 0, 0)));
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public void A_collected_cache_disappears_from_the_measurements(CacheEvictionPolicy policy)
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        CreateObservedAndDrop(recorder, name, policy);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.That(recorder.Observe(), Is.Empty);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CreateObservedAndDrop(MetricsRecorder recorder, string name, CacheEvictionPolicy policy)
    {
        var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { Name = name, MaxSize = 3, EvictionPolicy = policy });
        Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.cache.size"), Is.Zero);
        GC.KeepAlive(cache);
    }

    private static string UniqueName() => $"taskcache-test-{Guid.NewGuid():N}";
}
