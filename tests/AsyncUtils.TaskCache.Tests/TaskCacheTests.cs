namespace AsyncUtils.Tests;

public sealed class TaskCacheTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task The_first_caller_starts_the_call_and_later_callers_get_the_same_completed_task()
    {
        var cache = new TaskCache<string, int>();
        int calls = 0;

        Task<int> first = cache.GetOrAddAsync("a", (_, _) => Task.FromResult(++calls));
        Task<int> second = cache.GetOrAddAsync("a", (_, _) => Task.FromResult(++calls));

        Assert.That(second, Is.SameAs(first));
        Assert.That(await second.WaitAsync(Bound), Is.EqualTo(1));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task Callers_while_a_call_is_in_flight_share_it_and_all_get_its_result()
    {
        var cache = new TaskCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;

        Task<int>[] tasks = [.. Enumerable.Range(0, 5).Select(_ => cache.GetOrAddAsync("a", (_, _) =>
        {
            calls++;
            return gate.Task;
        }))];

        Assert.That(tasks.All(t => !t.IsCompleted), Is.True);
        gate.SetResult(42);
        int[] results = await Task.WhenAll(tasks).WaitAsync(Bound);

        Assert.That(calls, Is.EqualTo(1));
        Assert.That(results, Is.All.EqualTo(42));
        Assert.That(tasks.Distinct().Count(), Is.EqualTo(1));
    }

    [Test]
    public async Task Different_keys_start_different_calls()
    {
        var cache = new TaskCache<int, int>();
        int calls = 0;

        int a = await cache.GetOrAddAsync(1, (k, _) => { calls++; return Task.FromResult(k * 10); }).WaitAsync(Bound);
        int b = await cache.GetOrAddAsync(2, (k, _) => { calls++; return Task.FromResult(k * 10); }).WaitAsync(Bound);

        Assert.That((a, b, calls), Is.EqualTo((10, 20, 2)));
    }

    [Test]
    public async Task The_state_overload_passes_state_to_the_function_and_leaves_it_out_of_the_key()
    {
        var cache = new TaskCache<int, string>();

        string first = await cache.GetOrAddAsync(1, static (k, prefix, _) => Task.FromResult(prefix + k), "x").WaitAsync(Bound);
        string second = await cache.GetOrAddAsync(1, static (k, prefix, _) => Task.FromResult(prefix + k), "y").WaitAsync(Bound);

        Assert.That((first, second), Is.EqualTo(("x1", "x1")));
    }

    [Test]
    public void A_hit_on_a_completed_entry_allocates_nothing()
    {
        var unbounded = new TaskCache<int, int>();
        var bounded = new TaskCache<int, int>(new TaskCacheOptions<int, int> { MaxSize = 16 });
        var boundedS3Fifo = new TaskCache<int, int>(new TaskCacheOptions<int, int> { MaxSize = 16, EvictionPolicy = CacheEvictionPolicy.S3Fifo });
        var expiring = new TaskCache<int, int>(new TaskCacheOptions<int, int> { TimeToLive = TimeSpan.FromHours(1) });
        Func<int, Task<int>> wrapped = unbounded.Wrap(static (int k, CancellationToken _) => Task.FromResult(k));

        void HitAll()
        {
            for (int i = 0; i < 1000; i++)
            {
                _ = unbounded.GetOrAddAsync(1, static (k, _) => Task.FromResult(k));
                _ = unbounded.GetOrAddAsync(1, static (k, s, _) => Task.FromResult(k + s), 5);
                _ = bounded.GetOrAddAsync(i & 7, static (k, _) => Task.FromResult(k));
                _ = boundedS3Fifo.GetOrAddAsync(i & 7, static (k, _) => Task.FromResult(k));
                _ = expiring.GetOrAddAsync(1, static (k, _) => Task.FromResult(k));
                _ = wrapped(1);
            }
        }

        HitAll(); // fills the caches and warms the code
        long before = GC.GetAllocatedBytesForCurrentThread();
        HitAll();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public async Task The_shared_task_runs_its_continuations_asynchronously_never_on_the_completing_thread()
    {
        var cache = new TaskCache<string, int>();
        var gate = new TaskCompletionSource<int>();
        Task<int> shared = cache.GetOrAddAsync("a", (_, _) => gate.Task);
        bool? ranInsideSetResult = null;
        Task continuation = shared.ContinueWith(
            _ => ranInsideSetResult = CompletingThread.Inside,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        // On a pool thread (no test synchronization context) the cache's completion runs inline
        // inside SetResult; the caller's continuation must not.
        await Task.Run(() =>
        {
            CompletingThread.Inside = true;
            gate.SetResult(1);
            CompletingThread.Inside = false;
        }).WaitAsync(Bound);

        await continuation.WaitAsync(Bound);
        Assert.That(ranInsideSetResult, Is.False);
    }

    [Test]
    public async Task The_function_may_call_back_into_the_cache_for_another_key()
    {
        var cache = new TaskCache<int, int>();

        int result = await cache.GetOrAddAsync(2, async (k, _) =>
        {
            int inner = await cache.GetOrAddAsync(k - 1, static (j, _) => Task.FromResult(j * 100)).ConfigureAwait(false);
            cache.Invalidate(99);
            return inner + k;
        }).WaitAsync(Bound);

        Assert.That(result, Is.EqualTo(102));
        Assert.That(await cache.GetOrAddAsync(1, static (_, _) => Task.FromResult(-1)).WaitAsync(Bound), Is.EqualTo(100));
    }

    [Test]
    public async Task Invalidate_makes_the_next_caller_start_a_new_call()
    {
        var cache = new TaskCache<string, int>();
        int calls = 0;
        Task<int> Get() => cache.GetOrAddAsync("a", (_, _) => Task.FromResult(++calls));

        await Get().WaitAsync(Bound);
        Assert.That(cache.Invalidate("a"), Is.True);
        Assert.That(cache.Invalidate("a"), Is.False);
        Assert.That(await Get().WaitAsync(Bound), Is.EqualTo(2));
    }

    [Test]
    public async Task Invalidating_a_call_in_flight_keeps_its_waiters_but_does_not_cache_its_result()
    {
        var cache = new TaskCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;

        Task<int> inFlight = cache.GetOrAddAsync("a", (_, _) => { calls++; return gate.Task; });
        Assert.That(cache.Invalidate("a"), Is.True);
        Task<int> next = cache.GetOrAddAsync("a", (_, _) => { calls++; return Task.FromResult(2); });
        gate.SetResult(1);

        Assert.That(await inFlight.WaitAsync(Bound), Is.EqualTo(1));
        Assert.That(await next.WaitAsync(Bound), Is.EqualTo(2));
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => Task.FromResult(3)).WaitAsync(Bound), Is.EqualTo(2));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public async Task Clear_forgets_every_key()
    {
        var cache = new TaskCache<int, int>();
        for (int k = 0; k < 3; k++)
        {
            await cache.GetOrAddAsync(k, static (k, _) => Task.FromResult(k)).WaitAsync(Bound);
        }

        Assert.That(cache.Count, Is.EqualTo(3));
        cache.Clear();
        Assert.That(cache.Count, Is.Zero);
        Assert.That(await cache.GetOrAddAsync(1, static (_, _) => Task.FromResult(-1)).WaitAsync(Bound), Is.EqualTo(-1));
    }

    [Test]
    public async Task Statistics_count_hits_misses_coalesced_requests_and_calls_in_flight()
    {
        var cache = new TaskCache<string, int>(new TaskCacheOptions<string, int> { TrackStatistics = true });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        await cache.GetOrAddAsync("done", static (_, _) => Task.FromResult(1)).WaitAsync(Bound);
        _ = cache.GetOrAddAsync("done", static (_, _) => Task.FromResult(1));
        _ = cache.GetOrAddAsync("done", static (_, _) => Task.FromResult(1));
        Task<int> pending = cache.GetOrAddAsync("slow", (_, _) => gate.Task);
        _ = cache.GetOrAddAsync("slow", (_, _) => gate.Task);
        _ = cache.GetOrAddAsync("slow", (_, _) => gate.Task);

        Assert.That(cache.GetStatistics(), Is.EqualTo(new TaskCacheStatistics(hits: 2, misses: 2, coalesced: 2, inFlight: 1)));
        gate.SetResult(2);
        await pending.WaitAsync(Bound);
        Assert.That(cache.GetStatistics()!.Value.InFlight, Is.Zero);
    }

    [Test]
    public void Statistics_are_null_unless_tracked()
    {
        Assert.That(new TaskCache<int, int>().GetStatistics(), Is.Null);
    }

    [Test]
    public void Statistics_snapshots_compare_by_value_and_print_their_counters()
    {
        var a = new TaskCacheStatistics(1, 2, 3, 4);
        var b = new TaskCacheStatistics(1, 2, 3, 4);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(a == b, Is.True);
            Assert.That(a != new TaskCacheStatistics(1, 2, 3, 5), Is.True);
            Assert.That(a.Equals((object)b), Is.True);
            Assert.That(a.GetHashCode(), Is.EqualTo(b.GetHashCode()));
            Assert.That(a.ToString(), Is.EqualTo("Hits = 1, Misses = 2, Coalesced = 3, InFlight = 4"));
        }
    }

    [Test]
    public async Task A_custom_comparer_decides_which_keys_are_equal()
    {
        var cache = new TaskCache<string, int>(new TaskCacheOptions<string, int> { Comparer = StringComparer.OrdinalIgnoreCase });
        await cache.GetOrAddAsync("KEY", static (_, _) => Task.FromResult(1)).WaitAsync(Bound);
        Assert.That(await cache.GetOrAddAsync("key", static (_, _) => Task.FromResult(2)).WaitAsync(Bound), Is.EqualTo(1));
    }

    private static class CompletingThread
    {
        [ThreadStatic]
        internal static bool Inside;
    }
}
