namespace AsyncUtils.Tests;

public sealed class CoroutineCacheTests
{
    [Test]
    public async Task The_first_caller_starts_the_call_and_later_callers_get_the_cached_value_synchronously()
    {
        var cache = new CoroutineCache<string, int>();
        int calls = 0;

        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Within(), Is.EqualTo(1));
        Assert.That(cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Completed(), Is.EqualTo(1));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void A_function_that_completes_synchronously_gives_its_first_caller_a_completed_result()
    {
        var cache = new CoroutineCache<string, int>();
        Assert.That(cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(5)).Completed(), Is.EqualTo(5));
    }

    [Test]
    public async Task Callers_while_a_call_is_in_flight_share_it_and_all_get_its_result()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;

        Task<int>[] waiters = [.. Enumerable.Range(0, 5).Select(_ => cache.GetOrAddAsync("a", async (_, _) =>
        {
            calls++;
            return await gate.Task.ConfigureAwait(false);
        }).AsTask())];

        Assert.That(waiters.All(t => !t.IsCompleted), Is.True);
        gate.SetResult(42);

        Assert.That(await Task.WhenAll(waiters).Within(), Is.All.EqualTo(42));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task A_Task_returning_function_is_adapted_without_a_wrapper_type()
    {
        var cache = new CoroutineCache<int, string>();
        static Task<string> LoadAsync(int id, CancellationToken ct) => Task.FromResult($"user{id}");

        Assert.That(await cache.GetOrAddAsync(1, static (k, ct) => new ValueTask<string>(LoadAsync(k, ct))).Within(), Is.EqualTo("user1"));
    }

    [Test]
    public async Task The_state_overloads_pass_state_to_the_function_and_leave_it_out_of_the_key()
    {
        var cache = new CoroutineCache<int, string>();
        using var cts = new CancellationTokenSource();

        string first = await cache.GetOrAddAsync(1, static (k, prefix, _) => ValueTask.FromResult(prefix + k), "x").Within();
        string second = await cache.GetOrAddAsync(1, static (k, prefix, _) => ValueTask.FromResult(prefix + k), "y", cts.Token).Within();
        string third = await cache.GetOrAddAsync(2, static (k, prefix, _) => ValueTask.FromResult(prefix + k), "z", cts.Token).Within();

        Assert.That((first, second, third), Is.EqualTo(("x1", "x1", "z2")));
    }

    [Test]
    public void A_hit_on_a_completed_value_allocates_nothing()
    {
        var unbounded = new CoroutineCache<int, int>();
        var bounded = new CoroutineCache<int, int>(new CoroutineCacheOptions<int, int> { MaxSize = 16 });
        var boundedS3Fifo = new CoroutineCache<int, int>(new CoroutineCacheOptions<int, int> { MaxSize = 16, EvictionPolicy = CacheEvictionPolicy.S3Fifo });
        var expiring = new CoroutineCache<int, int>(new CoroutineCacheOptions<int, int> { TimeToLive = TimeSpan.FromHours(1) });
        Func<int, CancellationToken, ValueTask<int>> wrapped = unbounded.Wrap(static (int k, CancellationToken _) => ValueTask.FromResult(k));
        using var cts = new CancellationTokenSource();

        int HitAll()
        {
            int sum = 0;
            for (int i = 0; i < 1000; i++)
            {
                sum += unbounded.GetOrAddAsync(1, static (k, _) => ValueTask.FromResult(k)).Completed();
                sum += unbounded.GetOrAddAsync(1, static (k, _) => ValueTask.FromResult(k), cts.Token).Completed();
                sum += unbounded.GetOrAddAsync(1, static (k, s, _) => ValueTask.FromResult(k + s), 5).Completed();
                sum += bounded.GetOrAddAsync(i & 7, static (k, _) => ValueTask.FromResult(k)).Completed();
                sum += boundedS3Fifo.GetOrAddAsync(i & 7, static (k, _) => ValueTask.FromResult(k)).Completed();
                sum += expiring.GetOrAddAsync(1, static (k, _) => ValueTask.FromResult(k)).Completed();
                sum += wrapped(1, cts.Token).Completed();
            }

            return sum;
        }

        HitAll(); // fills the caches and warms the code
        long before = GC.GetAllocatedBytesForCurrentThread();
        HitAll();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public async Task Waiters_are_resumed_asynchronously_never_on_the_thread_that_completed_the_call()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>();
        Task<int> waiter = cache.GetOrAddAsync("a", (_, _) => new ValueTask<int>(gate.Task)).AsTask();
        bool? ranInsideSetResult = null;
        Task continuation = waiter.ContinueWith(
            _ => ranInsideSetResult = CompletingThread.Inside,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        // On a pool thread (no test synchronization context) the cache's completion runs inline
        // inside SetResult; the waiter's continuation must not.
        await Task.Run(() =>
        {
            CompletingThread.Inside = true;
            gate.SetResult(1);
            CompletingThread.Inside = false;
        }).Within();

        await continuation.Within();
        Assert.That(ranInsideSetResult, Is.False);
    }

    [Test]
    public async Task The_function_may_call_back_into_the_cache_for_another_key()
    {
        var cache = new CoroutineCache<int, int>();

        int result = await cache.GetOrAddAsync(2, async (k, ct) =>
        {
            int inner = await cache.GetOrAddAsync(k - 1, static (j, _) => ValueTask.FromResult(j * 100), ct).ConfigureAwait(false);
            cache.Invalidate(99);
            return inner + k;
        }).Within();

        Assert.That(result, Is.EqualTo(102));
        Assert.That(await cache.GetOrAddAsync(1, static (_, _) => ValueTask.FromResult(-1)).Within(), Is.EqualTo(100));
    }

    [Test]
    public async Task Invalidate_makes_the_next_caller_start_a_new_call()
    {
        var cache = new CoroutineCache<string, int>();
        int calls = 0;
        ValueTask<int> Get() => cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls));

        await Get().Within();
        Assert.That(cache.Invalidate("a"), Is.True);
        Assert.That(cache.Invalidate("a"), Is.False);
        Assert.That(await Get().Within(), Is.EqualTo(2));
    }

    [Test]
    public async Task Invalidating_a_call_in_flight_keeps_its_waiters_but_does_not_cache_its_result()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;

        Task<int> inFlight = cache.GetOrAddAsync("a", (_, _) => { calls++; return new ValueTask<int>(gate.Task); }).AsTask();
        Assert.That(cache.Invalidate("a"), Is.True);
        Task<int> next = cache.GetOrAddAsync("a", (_, _) => { calls++; return ValueTask.FromResult(2); }).AsTask();
        gate.SetResult(1);

        Assert.That(await inFlight.Within(), Is.EqualTo(1));
        Assert.That(await next.Within(), Is.EqualTo(2));
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(3)).Within(), Is.EqualTo(2));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public async Task Clear_forgets_every_key()
    {
        var cache = new CoroutineCache<int, int>();
        for (int k = 0; k < 3; k++)
        {
            await cache.GetOrAddAsync(k, static (k, _) => ValueTask.FromResult(k)).Within();
        }

        Assert.That(cache.Count, Is.EqualTo(3));
        cache.Clear();
        Assert.That(cache.Count, Is.Zero);
        Assert.That(await cache.GetOrAddAsync(1, static (_, _) => ValueTask.FromResult(-1)).Within(), Is.EqualTo(-1));
    }

    [Test]
    public async Task Statistics_count_hits_misses_coalesced_requests_and_calls_in_flight()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { TrackStatistics = true });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        await cache.GetOrAddAsync("done", static (_, _) => ValueTask.FromResult(1)).Within();
        await cache.GetOrAddAsync("done", static (_, _) => ValueTask.FromResult(1)).Within();
        await cache.GetOrAddAsync("done", static (_, _) => ValueTask.FromResult(1)).Within();
        Task<int> pending = cache.GetOrAddAsync("slow", (_, _) => new ValueTask<int>(gate.Task)).AsTask();
        Task<int> joined1 = cache.GetOrAddAsync("slow", (_, _) => new ValueTask<int>(gate.Task)).AsTask();
        Task<int> joined2 = cache.GetOrAddAsync("slow", (_, _) => new ValueTask<int>(gate.Task)).AsTask();

        Assert.That(cache.GetStatistics(), Is.EqualTo(new CoroutineCacheStatistics(hits: 2, misses: 2, coalesced: 2, inFlight: 1)));
        gate.SetResult(2);
        await Task.WhenAll(pending, joined1, joined2).Within();
        Assert.That(cache.GetStatistics()!.Value.InFlight, Is.Zero);
    }

    [Test]
    public void Statistics_are_null_unless_tracked()
    {
        Assert.That(new CoroutineCache<int, int>().GetStatistics(), Is.Null);
    }

    [Test]
    public void Statistics_snapshots_compare_by_value_and_print_their_counters()
    {
        var a = new CoroutineCacheStatistics(1, 2, 3, 4);
        var b = new CoroutineCacheStatistics(1, 2, 3, 4);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(a == b, Is.True);
            Assert.That(a != new CoroutineCacheStatistics(1, 2, 3, 5), Is.True);
            Assert.That(a.Equals((object)b), Is.True);
            Assert.That(a.GetHashCode(), Is.EqualTo(b.GetHashCode()));
            Assert.That(a.ToString(), Is.EqualTo("Hits = 1, Misses = 2, Coalesced = 3, InFlight = 4"));
        }
    }

    [Test]
    public async Task A_custom_comparer_decides_which_keys_are_equal()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { Comparer = StringComparer.OrdinalIgnoreCase });
        await cache.GetOrAddAsync("KEY", static (_, _) => ValueTask.FromResult(1)).Within();
        Assert.That(await cache.GetOrAddAsync("key", static (_, _) => ValueTask.FromResult(2)).Within(), Is.EqualTo(1));
    }

    private static class CompletingThread
    {
        [ThreadStatic]
        internal static bool Inside;
    }
}
