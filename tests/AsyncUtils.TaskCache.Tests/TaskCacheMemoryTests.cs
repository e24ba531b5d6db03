using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// Memory is bounded by the entries the cache stores: a result that left the cache (evicted,
/// invalidated, cleared, replaced) is not kept reachable by the expiry bookkeeping, whatever the
/// time to live. Values are created and dropped in non-inlined helpers so that no local of a test
/// keeps them alive; a weak reference then tells whether the cache still holds them.
/// </summary>
public sealed class TaskCacheMemoryTests
{
    private const int Results = 200;
    private const int MaxSize = 10;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan LongTtl = TimeSpan.FromHours(1);

    private readonly FakeTimeProvider _time = new();

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public void Evicted_results_are_collectable_although_their_time_to_live_has_not_passed(CacheEvictionPolicy policy)
    {
        var cache = new TaskCache<int, byte[]>(new TaskCacheOptions<int, byte[]> { EvictionPolicy = policy, MaxSize = MaxSize, TimeToLive = LongTtl, TimeProvider = _time });
        WeakReference[] results = Fill(cache, Results);

        CollectEverything();

        Assert.That(results.Take(Results - MaxSize).Count(r => r.IsAlive), Is.Zero, "evicted results still reachable");
        Assert.That(results.Skip(Results - MaxSize).All(r => r.IsAlive), Is.True, "the cached results must stay (else this test proves nothing)");
        Assert.That(cache.ExpiryQueueCount, Is.LessThanOrEqualTo(MaxSize));
        GC.KeepAlive(cache);
    }

    [Test]
    public void Invalidated_results_are_collectable_although_their_time_to_live_has_not_passed()
    {
        var cache = new TaskCache<int, byte[]>(new TaskCacheOptions<int, byte[]> { TimeToLive = LongTtl, TimeProvider = _time });
        WeakReference[] results = Fill(cache, Results);
        for (int i = 0; i < Results; i += 2)
        {
            Assert.That(cache.Invalidate(i), Is.True);
        }

        CollectEverything();

        Assert.That(results.Where((_, i) => i % 2 == 0).Count(r => r.IsAlive), Is.Zero, "invalidated results still reachable");
        Assert.That(results.Where((_, i) => i % 2 == 1).All(r => r.IsAlive), Is.True, "the cached results must stay");
        Assert.That(cache.ExpiryQueueCount, Is.EqualTo(Results / 2));
        GC.KeepAlive(cache);
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public void Cleared_results_are_collectable_and_the_expiry_queue_is_empty(CacheEvictionPolicy policy)
    {
        var cache = new TaskCache<int, byte[]>(new TaskCacheOptions<int, byte[]> { EvictionPolicy = policy, MaxSize = 50, TimeToLive = LongTtl, TimeProvider = _time });
        WeakReference[] results = Fill(cache, 40);
        cache.Clear();

        CollectEverything();

        Assert.That(results.Count(r => r.IsAlive), Is.Zero);
        Assert.That(cache.ExpiryQueueCount, Is.Zero);
        GC.KeepAlive(cache);
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public async Task A_call_evicted_while_in_flight_is_not_queued_for_expiry_when_it_completes(CacheEvictionPolicy policy)
    {
        var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { EvictionPolicy = policy, MaxSize = 1, TimeToLive = LongTtl, TimeProvider = _time });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> evicted = cache.GetOrAddAsync(1, (_, _) => gate.Task);
        await cache.GetOrAddAsync(2, static (_, _) => Task.FromResult(2)).WaitAsync(Bound); // evicts key 1

        gate.SetResult(1);
        Assert.That(await evicted.WaitAsync(Bound), Is.EqualTo(1));

        Assert.That(cache.Count, Is.EqualTo(1));
        Assert.That(cache.ExpiryQueueCount, Is.EqualTo(1));
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public void The_expiry_queue_never_holds_more_entries_than_the_cache_under_any_insert_rate(CacheEvictionPolicy policy)
    {
        var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { EvictionPolicy = policy, MaxSize = MaxSize, TimeToLive = LongTtl, TimeProvider = _time });
        for (int i = 0; i < 10_000; i++)
        {
            _ = cache.GetOrAddAsync(i % 300, static (k, _) => Task.FromResult(k));
            if (i % 7 == 0)
            {
                cache.Invalidate((i * 13) % 300);
            }

            if (i % 1000 == 0)
            {
                _time.Advance(TimeSpan.FromMinutes(25)); // some entries expire and are replaced
            }

            Assert.That(cache.ExpiryQueueCount, Is.LessThanOrEqualTo(cache.Count), $"after {i + 1} requests");
        }
    }

    [TestCase(null, CacheEvictionPolicy.Lru)]
    [TestCase(20, CacheEvictionPolicy.Lru)]
    [TestCase(20, CacheEvictionPolicy.S3Fifo)]
    public async Task After_racing_requests_evictions_and_invalidations_the_expiry_queue_holds_only_stored_entries(int? maxSize, CacheEvictionPolicy policy)
    {
        var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { EvictionPolicy = policy, MaxSize = maxSize, TimeToLive = LongTtl });
        var calls = new System.Collections.Concurrent.ConcurrentBag<Task<int>>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2)); // bounds the run on a slow machine
        async Task Run(int seed)
        {
            await Task.Yield();
            var random = new Random(seed);
            for (int i = 0; i < 20_000 && !stop.IsCancellationRequested; i++)
            {
                int key = random.Next(100);
                if (random.Next(5) == 0)
                {
                    cache.Invalidate(key);
                }
                else if (random.Next(3) == 0)
                {
                    // A call that completes later, on another thread, while others evict or invalidate it.
                    calls.Add(cache.GetOrAddAsync(key, static async (k, _) => { await Task.Yield(); return k; }));
                }
                else
                {
                    _ = cache.GetOrAddAsync(key, static (k, _) => Task.FromResult(k));
                }
            }
        }

        await Task.WhenAll(Run(1), Run(2), Run(3)).WaitAsync(Bound);
        await Task.WhenAll(calls).WaitAsync(Bound); // every call has completed and settled its entry

        Assert.That(cache.ExpiryQueueCount, Is.LessThanOrEqualTo(cache.Count));
        Assert.That(cache.ExpiryQueueCount, Is.LessThanOrEqualTo(maxSize ?? 100));
    }

    private static void CollectEverything()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        GC.Collect();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] Fill(TaskCache<int, byte[]> cache, int count)
    {
        var results = new WeakReference[count];
        for (int i = 0; i < count; i++)
        {
            byte[] value = new byte[1024];
            results[i] = new WeakReference(value);
            Assert.That(cache.GetOrAddAsync(i, static (_, v, _) => Task.FromResult(v), value).IsCompletedSuccessfully, Is.True);
        }

        return results;
    }
}
