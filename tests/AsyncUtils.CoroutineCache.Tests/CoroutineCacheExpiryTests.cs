using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class CoroutineCacheExpiryTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();

    [Test]
    public async Task The_time_to_live_counts_from_completion_not_from_the_start_of_the_call()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { TimeToLive = Ttl, TimeProvider = _time });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        ValueTask<int> Get() => cache.GetOrAddAsync("a", (_, _) => ++calls == 1 ? new ValueTask<int>(gate.Task) : ValueTask.FromResult(calls));

        Task<int> first = Get().AsTask();
        _time.Advance(TimeSpan.FromSeconds(30)); // a long call: it does not expire while in flight
        Task<int> joined = Get().AsTask();
        Assert.That(calls, Is.EqualTo(1));
        gate.SetResult(1);
        await Task.WhenAll(first, joined).Within();

        _time.Advance(Ttl - TimeSpan.FromTicks(1));
        ValueTask<int> hit = Get();
        Assert.That(hit.IsCompletedSuccessfully && hit.Result == 1, Is.True);
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.That(await Get().Within(), Is.EqualTo(2));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public async Task Without_a_time_to_live_a_result_is_kept_until_invalidated()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { TimeProvider = _time });
        int calls = 0;
        await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Within();
        _time.Advance(TimeSpan.FromDays(3650));
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Within(), Is.EqualTo(1));
    }

    [Test]
    public async Task A_zero_time_to_live_keeps_nothing_but_still_shares_calls_in_flight()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { TimeToLive = TimeSpan.Zero });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;

        ValueTask<int> a = cache.GetOrAddAsync("a", (_, _) => { calls++; return new ValueTask<int>(gate.Task); });
        ValueTask<int> b = cache.GetOrAddAsync("a", (_, _) => { calls++; return new ValueTask<int>(gate.Task); });
        gate.SetResult(1);
        Assert.That(await b.Within(), Is.EqualTo(1));
        Assert.That(await a.Within(), Is.EqualTo(1));
        Assert.That(calls, Is.EqualTo(1));

        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Within(), Is.EqualTo(2));
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public async Task The_selector_can_say_do_not_cache_this_result()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            TimeToLiveSelector = static (_, value) => value < 0 ? TimeSpan.Zero : null,
        });
        int next = -1;

        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(next++)).Within(), Is.EqualTo(-1));
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(next++)).Within(), Is.EqualTo(0));
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(next++)).Within(), Is.EqualTo(0));
    }

    [Test]
    public async Task The_selector_can_give_a_result_its_own_time_to_live_or_keep_it_forever()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            TimeToLive = Ttl,
            TimeProvider = _time,
            TimeToLiveSelector = static (key, _) => key switch
            {
                "short" => TimeSpan.FromSeconds(1),
                "forever" => Timeout.InfiniteTimeSpan,
                _ => null,
            },
        });
        int calls = 0;
        ValueTask<int> Get(string key) => cache.GetOrAddAsync(key, (_, _) => ValueTask.FromResult(++calls));

        int shortFirst = await Get("short").Within();
        int foreverFirst = await Get("forever").Within();
        int defaultFirst = await Get("default").Within();

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await Get("short").Within(), Is.Not.EqualTo(shortFirst));
        Assert.That(await Get("default").Within(), Is.EqualTo(defaultFirst));

        _time.Advance(TimeSpan.FromDays(1));
        Assert.That(await Get("default").Within(), Is.Not.EqualTo(defaultFirst));
        Assert.That(await Get("forever").Within(), Is.EqualTo(foreverFirst));
    }

    [Test]
    public async Task A_selector_that_throws_fails_the_call_with_its_exception_and_nothing_is_cached()
    {
        var failure = new FormatException("selector");
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            TimeToLiveSelector = (_, value) => value == 1 ? throw failure : null,
        });
        int calls = 0;

        var ex = await Assert.ThrowsAsync<FormatException>(async () => await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Within());
        Assert.That(ex, Is.SameAs(failure));
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => ValueTask.FromResult(++calls)).Within(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_selector_that_returns_a_negative_duration_fails_the_call_with_InvalidOperationException()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            TimeToLiveSelector = static (_, _) => TimeSpan.FromSeconds(-1),
        });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(1)).Within());
        Assert.That(ex!.Message, Does.Contain("TimeToLiveSelector"));
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public async Task Expired_entries_are_removed_by_later_completions_without_being_requested_again()
    {
        var cache = new CoroutineCache<int, int>(new CoroutineCacheOptions<int, int> { TimeToLive = Ttl, TimeProvider = _time });
        for (int k = 0; k < 4; k++)
        {
            await cache.GetOrAddAsync(k, static (k, _) => ValueTask.FromResult(k)).Within();
        }

        _time.Advance(Ttl);
        Assert.That(cache.Count, Is.EqualTo(4));

        await cache.GetOrAddAsync(100, static (k, _) => ValueTask.FromResult(k)).Within(); // removes two expired
        Assert.That(cache.Count, Is.EqualTo(3));
        await cache.GetOrAddAsync(101, static (k, _) => ValueTask.FromResult(k)).Within(); // and two more
        Assert.That(cache.Count, Is.EqualTo(2));
    }

    [Test]
    public async Task With_a_maximum_size_the_least_recently_used_entry_is_evicted()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { MaxSize = 2 });
        var calls = new Dictionary<string, int>();
        ValueTask<int> Get(string key) => cache.GetOrAddAsync(key, (k, _) =>
        {
            calls[k] = calls.GetValueOrDefault(k) + 1;
            return ValueTask.FromResult(calls[k]);
        });

        await Get("a").Within();
        await Get("b").Within();
        await Get("a").Within(); // a is now the most recent
        await Get("c").Within(); // evicts b

        Assert.That(cache.Count, Is.EqualTo(2));
        Assert.That(await Get("a").Within(), Is.EqualTo(1), "a was kept");
        Assert.That(await Get("b").Within(), Is.EqualTo(2), "b was evicted and called again");
    }

    [TestCase(CacheEvictionPolicy.Lru, 2)]
    [TestCase(CacheEvictionPolicy.S3Fifo, 1)]
    public async Task With_S3Fifo_a_key_read_again_survives_a_scan_of_new_keys_that_flushes_an_exact_lru(CacheEvictionPolicy policy, int expectedCalls)
    {
        const int maxSize = 10;
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { MaxSize = maxSize, EvictionPolicy = policy });
        int calls = 0;
        for (int i = 0; i < 3; i++)
        {
            Assert.That(await cache.GetOrAddAsync("hot", (_, _) => ValueTask.FromResult(++calls)).Within(), Is.EqualTo(1));
        }

        for (int i = 0; i < 3 * maxSize; i++)
        {
            _ = await cache.GetOrAddAsync($"scan{i}", static (_, _) => ValueTask.FromResult(0)).Within();
            Assert.That(cache.Count, Is.LessThanOrEqualTo(maxSize));
        }

        _ = await cache.GetOrAddAsync("hot", (_, _) => ValueTask.FromResult(++calls)).Within();
        Assert.That(calls, Is.EqualTo(expectedCalls), "S3-FIFO keeps the key read repeatedly; an exact LRU evicts it");
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public async Task Maximum_size_and_time_to_live_work_together(CacheEvictionPolicy policy)
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { EvictionPolicy = policy, MaxSize = 2, TimeToLive = Ttl, TimeProvider = _time });
        int calls = 0;
        ValueTask<int> Get(string key) => cache.GetOrAddAsync(key, (_, _) => ValueTask.FromResult(++calls));

        int a = await Get("a").Within();
        _time.Advance(Ttl);
        Assert.That(await Get("a").Within(), Is.Not.EqualTo(a));
        await Get("b").Within();
        await Get("c").Within();
        Assert.That(cache.Count, Is.EqualTo(2));
    }

    [TestCase(CacheEvictionPolicy.Lru)]
    [TestCase(CacheEvictionPolicy.S3Fifo)]
    public async Task An_entry_evicted_while_in_flight_still_completes_for_its_waiters_and_is_not_cached(CacheEvictionPolicy policy)
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { EvictionPolicy = policy, MaxSize = 1 });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        ValueTask<int> evicted = cache.GetOrAddAsync("a", (_, _) => new ValueTask<int>(gate.Task));
        await cache.GetOrAddAsync("b", static (_, _) => ValueTask.FromResult(2)).Within();
        gate.SetResult(1);

        Assert.That(await evicted.Within(), Is.EqualTo(1));
        Assert.That(await cache.GetOrAddAsync("b", static (_, _) => ValueTask.FromResult(-1)).Within(), Is.EqualTo(2));
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(3)).Within(), Is.EqualTo(3));
    }
}
