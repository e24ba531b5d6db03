using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class CoroutineCacheConcurrencyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [TestCase(null, false, CacheEvictionPolicy.Lru)]
    [TestCase(1000, false, CacheEvictionPolicy.Lru)]
    [TestCase(1000, false, CacheEvictionPolicy.S3Fifo)]
    [TestCase(null, true, CacheEvictionPolicy.Lru)]
    public async Task Sixty_four_concurrent_first_callers_start_exactly_one_call(int? maxSize, bool cancellableWaiters, CacheEvictionPolicy policy)
    {
        const int callers = 64;
        const int rounds = 25;
        var cache = new CoroutineCache<int, int>(new CoroutineCacheOptions<int, int> { EvictionPolicy = policy, MaxSize = maxSize, CancelWhenAllWaitersCancel = cancellableWaiters });
        using var neverCancelled = new CancellationTokenSource();
        CancellationToken token = cancellableWaiters ? neverCancelled.Token : CancellationToken.None;
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
                    return new ValueTask<int>(gate.Task);
                }, token).AsTask();
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
        gate.SetResult(5);
        int[] results = await Task.WhenAll(tasks.Cast<Task<int>>()).Within();
        Assert.That(results, Has.Length.EqualTo(rounds * callers).And.All.EqualTo(5));
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
        var cache = new CoroutineCache<int, long>(new CoroutineCacheOptions<int, long>
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
                        }).AsTask());
                        break;
                    case 3:
                        if (i % 500 == 0)
                        {
                            cache.Clear();
                        }

                        break;
                    default:
                        ValueTask<long> task = cache.GetOrAddAsync(key, (k, _) =>
                        {
                            Interlocked.Increment(ref started);
                            return ValueTask.FromResult((long)k);
                        });
                        if (task.IsCompletedSuccessfully && task.Result != key)
                        {
                            failures.Enqueue($"key {key} got {task.Result}");
                        }
                        else if (!task.IsCompleted)
                        {
                            pending.Add(task.AsTask());
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

        long[] results = await Task.WhenAll(pending).Within();
        Assert.That(failures, Is.Empty);
        Assert.That(results.All(r => r is >= 0 and < keys), Is.True);
        CoroutineCacheStatistics stats = cache.GetStatistics()!.Value;
        Assert.That(stats.Misses, Is.EqualTo(Interlocked.Read(ref started)), "every miss started exactly one call");
        Assert.That(stats.InFlight, Is.Zero);
        Assert.That(stats.Hits + stats.Misses + stats.Coalesced, Is.GreaterThan(0));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Waiters_cancelling_at_random_never_disturb_the_waiters_that_stay(bool cancelWhenAllWaitersCancel)
    {
        const int threads = 4;
        const int opsPerThread = 3_000;
        const int keys = 8;
        var cache = new CoroutineCache<int, int>(new CoroutineCacheOptions<int, int>
        {
            CancelWhenAllWaitersCancel = cancelWhenAllWaitersCancel,
            TimeToLive = TimeSpan.Zero, // keep nothing, so that calls keep starting and overlapping
        });
        var requests = new ConcurrentQueue<(int Key, Task<int> Task, CancellationTokenSource Source)>();

        Thread[] workers = [.. Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            for (int i = 0; i < opsPerThread; i++)
            {
                int key = random.Next(keys);
                var source = new CancellationTokenSource();
                Task<int> task = cache.GetOrAddAsync(key, static async (k, ct) =>
                {
                    await Task.Yield();
                    ct.ThrowIfCancellationRequested();
                    return k;
                }, source.Token).AsTask();
                requests.Enqueue((key, task, source));
                if (random.Next(3) == 0)
                {
                    source.Cancel();
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

        int stayed = 0;
        foreach ((int key, Task<int> task, CancellationTokenSource source) in requests)
        {
            try
            {
                int result = await task.Within();
                Assert.That(result, Is.EqualTo(key));
            }
            catch (OperationCanceledException)
            {
                Assert.That(source.IsCancellationRequested, Is.True, "only a caller that gave up may see a cancellation");
            }

            stayed += source.IsCancellationRequested ? 0 : 1;
            source.Dispose();
        }

        Assert.That(stayed, Is.GreaterThan(0));
    }
}
