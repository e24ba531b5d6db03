namespace AsyncUtils.Caching.Distributed.Tests;

public sealed class DistributedCoroutineCacheTests
{
    [Test]
    public async Task Reads_through_the_second_level_and_shares_one_call()
    {
        var store = new FakeDistributedCache();
        using var first = new DistributedCoroutineCache<string>(new DistributedCacheSecondLevel(store));
        using var second = new DistributedCoroutineCache<string>(new DistributedCacheSecondLevel(store));
        int calls = 0;
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<string>[] waiting = [.. Enumerable.Range(0, 20).Select(_ => first.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return new ValueTask<string>(release.Task);
        }).AsTask())];
        release.SetResult("v");
        await Task.WhenAll(waiting);
        string fromL2 = await second.GetOrAddAsync("k", (_, _) => new ValueTask<string>("other"));

        Assert.That(calls, Is.EqualTo(1));
        Assert.That(fromL2, Is.EqualTo("v"));
    }

    [Test]
    public async Task A_caller_that_gives_up_does_not_stop_the_shared_call_or_its_write()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedCoroutineCache<string>(new DistributedCacheSecondLevel(store));
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();

        ValueTask<string> impatient = cache.GetOrAddAsync("k", (_, _) => new ValueTask<string>(release.Task), cts.Token);
        ValueTask<string> patient = cache.GetOrAddAsync("k", (_, _) => new ValueTask<string>("never"));
        await cts.CancelAsync();
        await Assert.ThrowsAsync<TaskCanceledException>(async () => await impatient);
        release.SetResult("v");

        Assert.That(await patient, Is.EqualTo("v"));
        Assert.That(store.Contains("k"), Is.True);
    }

    [Test]
    public async Task An_L1_hit_completes_synchronously_without_allocating()
    {
        using var cache = new DistributedCoroutineCache<string>(new DistributedCacheSecondLevel(new FakeDistributedCache()));
        Func<string, CancellationToken, ValueTask<string>> function = static (_, _) => new ValueTask<string>("v");
        await cache.GetOrAddAsync("k", function);
        await cache.GetOrAddAsync("k", function); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        ValueTask<string> hit = cache.GetOrAddAsync("k", function);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(hit.IsCompletedSuccessfully, Is.True);
        Assert.That(await hit, Is.EqualTo("v"));
        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public async Task Invalidate_removes_both_levels()
    {
        var store = new FakeDistributedCache();
        using var cache = new DistributedCoroutineCache<string>(new DistributedCacheSecondLevel(store));
        await cache.GetOrAddAsync("k", static (_, _) => new ValueTask<string>("v"));

        Assert.That(await cache.InvalidateAsync("k"), Is.True);
        Assert.That(store.Contains("k"), Is.False);
        Assert.That(await cache.GetOrAddAsync("k", static (_, _) => new ValueTask<string>("w")), Is.EqualTo("w"));
    }
}
