using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class TaskCacheConcurrencyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [TestCase(null, CacheEvictionPolicy.Lru)]
    [TestCase(1000, CacheEvictionPolicy.Lru)]
    [TestCase(1000, CacheEvictionPolicy.S3Fifo)]
    public async Task Sixty_four_concurrent_first_callers_start_exactly_one_call(int? maxSize, CacheEvictionPolicy policy)
    {
        const int callers = 64;
        const int rounds = 25;
        var cache = new TaskCache<int, int>(new TaskCacheOptions<int, int> { EvictionPolicy = policy, MaxSize = maxSize });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int[] calls = new int[rounds];
        var tasks = new Task<int>[rounds, callers];

        // Dedicated threads released together by a barrier before each key, so the first callers
        // of every key truly race.
        using var barrier = new Barrier(callers);
        Thread[] threads = [.. Enumerable.Range(0, callers).Select(c => new Thread(() =>
        {
            for (int round = 0; round < rounds; round++)
            {
                barrier.SignalAndWait(Bound);
                tasks[round, c] = cache.GetOrAddAsync(round, (key, _) =>
                {
                    Interlocked.Increment(ref calls[key]);
                    return gate.Task;
                });
            }
        }))];
        foreach (Thread thread in threads)
        {
            thread.Start();
        }

        foreach (Thread thread in threads)
        {
            Assert.That(thread.Join(Bound), Is.True);
        }

        Assert.That(calls, Is.All.EqualTo(1));
        for (int round = 0; round < rounds; round++)
        {
            for (int c = 1; c < callers; c++)
            {
                Assert.That(tasks[round, c], Is.SameAs(tasks[round, 0]));
            }
        }

        gate.SetResult(5);
        Assert.That(await tasks[rounds - 1, callers - 1].WaitAsync(Bound), Is.EqualTo(5));
    }

    [TestCase(null, CacheEvictionPolicy.Lru)]
    [TestCase(8, CacheEvictionPolicy.Lru)]
    [TestCase(8, CacheEvictionPolicy.S3Fifo)]
    public async Task Threads_hammering_few_keys_with_expiry_eviction_and_invalidation_only_ever_see_their_keys_results(int? maxSize, CacheEvictionPolicy policy)
    {
        const int threads = 4;
        const int opsPerThread = 20_000;
        const int keys = 32;
        var time = new FakeTimeProvider();
        var cache = new TaskCache<int, long>(new TaskCacheOptions<int, long>
        {
            EvictionPolicy = policy,
            MaxSize = maxSize,
            TimeToLive = TimeSpan.FromSeconds(5),
            TimeProvider = time,
            TrackStatistics = true,
        });
        var failures = new ConcurrentQueue<string>();
        var pending = new ConcurrentBag<Task<long>>();
        long started = 0;

        Thread[] workers = [.. Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            for (int i = 0; i < opsPerThread && failures.IsEmpty; i++)
            {
                int key = random.Next(keys);
                switch (random.Next(20))
                {
                    case 0:
                        cache.Invalidate(key);
                        break;
                    case 1:
                        time.Advance(TimeSpan.FromSeconds(1));
                        break;
                    case 2:
                        pending.Add(cache.GetOrAddAsync(key, async (k, _) =>
                        {
                            Interlocked.Increment(ref started);
                            await Task.Yield();
                            return k;
                        }));
                        break;
                    case 3:
                        if (i % 500 == 0)
                        {
                            cache.Clear();
                        }

                        break;
                    default:
                        Task<long> task = cache.GetOrAddAsync(key, (k, _) =>
                        {
                            Interlocked.Increment(ref started);
                            return Task.FromResult((long)k);
                        });
                        if (task.IsCompletedSuccessfully && task.Result != key)
                        {
                            failures.Enqueue($"key {key} got {task.Result}");
                        }
                        else if (!task.IsCompleted)
                        {
                            pending.Add(task);
                        }

                        break;
                }

                if (maxSize is int max && cache.Count > max)
                {
                    failures.Enqueue($"count {cache.Count} above {max}");
                }
            }
        }))];
        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        foreach (Thread worker in workers)
        {
            Assert.That(worker.Join(Bound), Is.True);
        }

        long[] results = await Task.WhenAll(pending).WaitAsync(Bound);
        Assert.That(failures, Is.Empty);
        Assert.That(results.All(r => r is >= 0 and < keys), Is.True);
        TaskCacheStatistics stats = cache.GetStatistics()!.Value;
        Assert.That(stats.Misses, Is.EqualTo(Interlocked.Read(ref started)), "every miss started exactly one call");
        Assert.That(stats.InFlight, Is.Zero);
        Assert.That(stats.Hits + stats.Misses + stats.Coalesced, Is.GreaterThan(0));
    }
}
