namespace AsyncUtils.Tests;

/// <summary>
/// A function that asks for its own key (directly or through other keys) would wait for itself
/// forever; the cache fails that request with <see cref="InvalidOperationException"/> instead.
/// Every wait is bounded, so a regression fails rather than hangs.
/// </summary>
public sealed class CoroutineCacheRecursionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    public static IEnumerable<TestCaseData> Configurations()
    {
        yield return new TestCaseData(new CoroutineCacheOptions<string, int>()).SetArgDisplayNames("unbounded");
        yield return new TestCaseData(new CoroutineCacheOptions<string, int> { TimeToLive = TimeSpan.FromHours(1) }).SetArgDisplayNames("ttl");
        yield return new TestCaseData(new CoroutineCacheOptions<string, int> { MaxSize = 100 }).SetArgDisplayNames("bounded");
        yield return new TestCaseData(new CoroutineCacheOptions<string, int> { MaxSize = 100, EvictionPolicy = CacheEvictionPolicy.S3Fifo }).SetArgDisplayNames("bounded-s3fifo");
        yield return new TestCaseData(new CoroutineCacheOptions<string, int> { TrackStatistics = true }).SetArgDisplayNames("counters");
        yield return new TestCaseData(new CoroutineCacheOptions<string, int> { CancelWhenAllWaitersCancel = true }).SetArgDisplayNames("cancel-when-all-cancel");
    }

    [TestCaseSource(nameof(Configurations))]
    public async Task A_function_that_awaits_its_own_key_fails_with_InvalidOperationException_instead_of_deadlocking(CoroutineCacheOptions<string, int> options)
    {
        var cache = new CoroutineCache<string, int>(options);
        using var caller = new CancellationTokenSource();
        Task<int> outer = cache.GetOrAddAsync("a", async (key, ct) =>
        {
            await Task.Yield(); // the request comes from the function's asynchronous part
            return await cache.GetOrAddAsync(key, static (_, _) => ValueTask.FromResult(2), ct) + 1;
        }, caller.Token).AsTask();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await outer.WaitAsync(Bound));
        Assert.That(ex!.Message, Does.Contain("'a'").And.Contain("its own"));

        // The failed call freed the key: the next caller starts a new call.
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(7)).AsTask().WaitAsync(Bound), Is.EqualTo(7));
    }

    [TestCaseSource(nameof(Configurations))]
    public async Task A_function_that_asks_for_its_own_key_before_its_first_await_fails_instead_of_deadlocking(CoroutineCacheOptions<string, int> options)
    {
        var cache = new CoroutineCache<string, int>(options);
        Task<int> inner = null!;
        Task<int> outer = cache.GetOrAddAsync("a", (key, ct) =>
        {
            inner = cache.GetOrAddAsync(key, static (_, _) => ValueTask.FromResult(2), ct).AsTask();
            return new ValueTask<int>(inner);
        }).AsTask();

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await inner.WaitAsync(Bound));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await outer.WaitAsync(Bound));
    }

    [Test]
    public async Task A_cycle_through_other_keys_fails_instead_of_deadlocking()
    {
        var cache = new CoroutineCache<string, int>();
        Func<string, CancellationToken, ValueTask<int>> next = null!;
        next = async (key, ct) =>
        {
            await Task.Yield();
            string following = key switch { "a" => "b", "b" => "c", _ => "a" };
            return await cache.GetOrAddAsync(following, next, ct) + 1;
        };

        Task<int> outer = cache.GetOrAddAsync("a", next).AsTask();

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await outer.WaitAsync(Bound));
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public async Task A_recursive_function_over_different_keys_still_works()
    {
        var cache = new CoroutineCache<int, long>();
        Func<int, CancellationToken, ValueTask<long>> fibonacci = null!;
        fibonacci = async (n, ct) =>
        {
            await Task.Yield();
            return n < 2 ? n : await cache.GetOrAddAsync(n - 1, fibonacci, ct) + await cache.GetOrAddAsync(n - 2, fibonacci, ct);
        };

        Assert.That(await cache.GetOrAddAsync(40, fibonacci).AsTask().WaitAsync(Bound), Is.EqualTo(102_334_155));
    }

    [TestCaseSource(nameof(Configurations))]
    public async Task The_caller_that_started_a_call_can_ask_for_the_key_again_and_joins_it(CoroutineCacheOptions<string, int> options)
    {
        // The marker of the call being computed flows into the function, never back to its caller.
        var cache = new CoroutineCache<string, int>(options);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        Task<int> first = cache.GetOrAddAsync("a", (_, _) => { calls++; return new ValueTask<int>(gate.Task); }).AsTask();
        Task<int> second = cache.GetOrAddAsync("a", (_, _) => { calls++; return ValueTask.FromResult(2); }).AsTask();

        gate.SetResult(1);
        Assert.That(await first.WaitAsync(Bound), Is.EqualTo(1));
        Assert.That(await second.WaitAsync(Bound), Is.EqualTo(1));
        Assert.That(calls, Is.EqualTo(1));
    }
}
