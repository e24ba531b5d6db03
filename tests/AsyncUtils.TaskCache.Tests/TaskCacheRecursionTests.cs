namespace AsyncUtils.Tests;

/// <summary>
/// A function that asks for its own key (directly or through other keys) would wait for itself
/// forever; the cache fails that request with <see cref="InvalidOperationException"/> instead.
/// Every wait is bounded, so a regression fails rather than hangs.
/// </summary>
public sealed class TaskCacheRecursionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    public static IEnumerable<TestCaseData> Configurations()
    {
        yield return new TestCaseData(new TaskCacheOptions<string, int>()).SetArgDisplayNames("unbounded");
        yield return new TestCaseData(new TaskCacheOptions<string, int> { TimeToLive = TimeSpan.FromHours(1) }).SetArgDisplayNames("ttl");
        yield return new TestCaseData(new TaskCacheOptions<string, int> { MaxSize = 100 }).SetArgDisplayNames("bounded");
        yield return new TestCaseData(new TaskCacheOptions<string, int> { MaxSize = 100, EvictionPolicy = CacheEvictionPolicy.S3Fifo }).SetArgDisplayNames("bounded-s3fifo");
        yield return new TestCaseData(new TaskCacheOptions<string, int> { TrackStatistics = true }).SetArgDisplayNames("counters");
    }

    [TestCaseSource(nameof(Configurations))]
    public async Task A_function_that_awaits_its_own_key_fails_with_InvalidOperationException_instead_of_deadlocking(TaskCacheOptions<string, int> options)
    {
        var cache = new TaskCache<string, int>(options);
        Task<int> outer = cache.GetOrAddAsync("a", async (key, _) =>
        {
            await Task.Yield(); // the request comes from the function's asynchronous part
            return await cache.GetOrAddAsync(key, static (_, _) => Task.FromResult(2)) + 1;
        });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await outer.WaitAsync(Bound));
        Assert.That(ex!.Message, Does.Contain("'a'").And.Contain("its own"));

        // The failed call freed the key: the next caller starts a new call.
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => Task.FromResult(7)).WaitAsync(Bound), Is.EqualTo(7));
    }

    [TestCaseSource(nameof(Configurations))]
    public async Task A_function_that_asks_for_its_own_key_before_its_first_await_fails_instead_of_deadlocking(TaskCacheOptions<string, int> options)
    {
        var cache = new TaskCache<string, int>(options);
        Task<int> inner = null!;
        Task<int> outer = cache.GetOrAddAsync("a", (key, _) =>
        {
            inner = cache.GetOrAddAsync(key, static (_, _) => Task.FromResult(2));
            return inner;
        });

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await inner.WaitAsync(Bound));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await outer.WaitAsync(Bound));
    }

    [Test]
    public async Task A_cycle_through_other_keys_fails_instead_of_deadlocking()
    {
        var cache = new TaskCache<string, int>();
        Func<string, CancellationToken, Task<int>> next = null!;
        next = async (key, _) =>
        {
            await Task.Yield();
            string following = key switch { "a" => "b", "b" => "c", _ => "a" };
            return await cache.GetOrAddAsync(following, next) + 1;
        };

        Task<int> outer = cache.GetOrAddAsync("a", next);

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await outer.WaitAsync(Bound));
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public async Task A_recursive_function_over_different_keys_still_works()
    {
        var cache = new TaskCache<int, long>();
        Func<int, CancellationToken, Task<long>> fibonacci = null!;
        fibonacci = async (n, _) =>
        {
            await Task.Yield();
            return n < 2 ? n : await cache.GetOrAddAsync(n - 1, fibonacci) + await cache.GetOrAddAsync(n - 2, fibonacci);
        };

        Assert.That(await cache.GetOrAddAsync(40, fibonacci).WaitAsync(Bound), Is.EqualTo(102_334_155));
    }

    [TestCaseSource(nameof(Configurations))]
    public async Task The_caller_that_started_a_call_can_ask_for_the_key_again_and_joins_it(TaskCacheOptions<string, int> options)
    {
        // The marker of the call being computed flows into the function, never back to its caller.
        var cache = new TaskCache<string, int>(options);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> first = cache.GetOrAddAsync("a", (_, _) => gate.Task);
        Task<int> second = cache.GetOrAddAsync("a", static (_, _) => Task.FromResult(2));
        Assert.That(second, Is.SameAs(first));

        gate.SetResult(1);
        Assert.That(await second.WaitAsync(Bound), Is.EqualTo(1));
    }

    [Test]
    public async Task Another_flow_started_by_nobody_in_the_call_still_joins_it()
    {
        var cache = new TaskCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> first = cache.GetOrAddAsync("a", (_, _) => gate.Task);
        Task<int> second = null!;
        await Task.Run(() => { second = cache.GetOrAddAsync("a", static (_, _) => Task.FromResult(2)); }).WaitAsync(Bound);
        Assert.That(second, Is.SameAs(first));
        gate.SetResult(1);
        Assert.That(await second.WaitAsync(Bound), Is.EqualTo(1));
    }
}
