using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncUtils.Caching.Distributed.Tests;

/// <summary>A real HybridCache (AddHybridCache) per simulated process, over one shared IDistributedCache.</summary>
public sealed class HybridCacheSecondLevelTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly List<ServiceProvider> _providers = [];

    [TearDown]
    public void DisposeProviders()
    {
        foreach (ServiceProvider provider in _providers)
        {
            provider.Dispose();
        }

        _providers.Clear();
    }

    private HybridCache Hybrid(FakeDistributedCache store)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IDistributedCache>(store);
        services.AddHybridCache();
        ServiceProvider provider = services.BuildServiceProvider();
        _providers.Add(provider);
        return provider.GetRequiredService<HybridCache>();
    }

    private static Func<string, CancellationToken, Task<string>> Counting(StrongBox<int> calls, string result) =>
        (key, _) =>
        {
            Interlocked.Increment(ref calls.Value);
            return Task.FromResult(result);
        };

    [Test]
    public async Task A_miss_calls_once_and_another_process_reads_the_result_through_its_HybridCache()
    {
        var store = new FakeDistributedCache();
        using var first = new DistributedTaskCache<string>(new HybridCacheSecondLevel(Hybrid(store), "p:"));
        using var second = new DistributedCoroutineCache<string>(new HybridCacheSecondLevel(Hybrid(store), "p:"));
        var calls = new StrongBox<int>();

        string[] results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => first.GetOrAddAsync("k", Counting(calls, "one"))));
        string fromL2 = await second.GetOrAddAsync("k", (_, _) => new ValueTask<string>("two"));

        Assert.That(results, Is.All.EqualTo("one"));
        Assert.That(fromL2, Is.EqualTo("one"));
        Assert.That(calls.Value, Is.EqualTo(1));
        Assert.That(store.Contains("p:k"), Is.True, "written to the HybridCache's distributed cache");
    }

    [Test]
    public async Task A_miss_writes_nothing_to_the_HybridCache()
    {
        var store = new FakeDistributedCache();
        var level = new HybridCacheSecondLevel(Hybrid(store));

        SecondLevelEntry entry = await level.ReadAsync("k", CancellationToken.None);

        Assert.That(entry.Value, Is.Null);
        Assert.That(store.Contains("k"), Is.False);
    }

    [Test]
    public async Task Invalidate_removes_the_key_from_the_HybridCache_and_the_next_request_calls_again()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(new HybridCacheSecondLevel(Hybrid(store)));
        var calls = new StrongBox<int>();
        await cache.GetOrAddAsync("k", Counting(calls, "old"));

        Assert.That(await cache.InvalidateAsync("k"), Is.True);
        Assert.That(store.Contains("k"), Is.False);
        Assert.That(await cache.GetOrAddAsync("k", Counting(calls, "new")), Is.EqualTo("new"));
        Assert.That(calls.Value, Is.EqualTo(2));
    }

    [Test]
    public async Task A_call_started_before_Invalidate_never_leaves_its_value_in_the_HybridCache()
    {
        var store = new FakeDistributedCache();
        HybridCache hybrid = Hybrid(store);
        using var cache = new DistributedTaskCache<string>(new HybridCacheSecondLevel(hybrid));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string> stale = cache.GetOrAddAsync("k", (_, _) =>
        {
            entered.SetResult();
            return release.Task;
        });
        await entered.Task.WaitAsync(Patience);

        await cache.InvalidateAsync("k");
        release.SetResult("stale");

        Assert.That(await stale.WaitAsync(Patience), Is.EqualTo("stale"), "its own callers still get it");
        Assert.That(store.Contains("k"), Is.False);
        SecondLevelEntry inHybrid = await new HybridCacheSecondLevel(hybrid).ReadAsync("k", CancellationToken.None);
        Assert.That(inHybrid.Value, Is.Null, "nor in the HybridCache's memory level");
        Assert.That(await cache.GetOrAddAsync("k", (_, _) => Task.FromResult("fresh")), Is.EqualTo("fresh"));
    }

    [Test]
    public async Task The_time_to_live_reaches_the_HybridCache_entry()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedTaskCache<string>(
            new HybridCacheSecondLevel(Hybrid(store)),
            new DistributedCacheOptions<string> { TimeToLive = TimeSpan.FromMinutes(7) });

        await cache.GetOrAddAsync("k", (_, _) => Task.FromResult("v"));

        Assert.That(store.Options["k"].AbsoluteExpirationRelativeToNow, Is.EqualTo(TimeSpan.FromMinutes(7)));
    }

    [Test]
    public void Null_arguments_are_rejected_naming_them()
    {
        Assert.That(() => new HybridCacheSecondLevel(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("cache"));
        Assert.That(() => new HybridCacheSecondLevel(Hybrid(new FakeDistributedCache()), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("keyPrefix"));
    }
}
