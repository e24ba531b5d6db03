namespace AsyncUtils.Tests;

public sealed class CoroutineCacheCancellationTests
{
    [Test]
    public async Task One_callers_cancellation_stops_only_its_wait_and_leaves_the_others_result_intact()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken shared = default;
        int calls = 0;
        using var first = new CancellationTokenSource();
        using var third = new CancellationTokenSource();
        ValueTask<int> Get(CancellationToken ct) => cache.GetOrAddAsync("k", (_, token) =>
        {
            calls++;
            shared = token;
            return new ValueTask<int>(gate.Task);
        }, ct);

        Task<int> a = Get(first.Token).AsTask();
        Task<int> b = Get(CancellationToken.None).AsTask();
        Task<int> c = Get(third.Token).AsTask();
        await first.CancelAsync();

        var ex = await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await a.Within());
        Assert.That(((OperationCanceledException)ex!).CancellationToken, Is.EqualTo(first.Token));
        Assert.That(shared.IsCancellationRequested, Is.False);
        gate.SetResult(7);

        Assert.That(await b.Within(), Is.EqualTo(7));
        Assert.That(await c.Within(), Is.EqualTo(7));
        Assert.That(await Get(CancellationToken.None).Within(), Is.EqualTo(7));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task By_default_a_call_every_caller_gave_up_on_still_completes_and_is_cached()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();
        bool sharedCouldBeCancelled = true;

        Task<int> only = cache.GetOrAddAsync("k", (_, token) =>
        {
            sharedCouldBeCancelled = token.CanBeCanceled;
            return new ValueTask<int>(gate.Task);
        }, cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await only.Within());

        gate.SetResult(3);
        await gate.Task.Within();
        Assert.That(await cache.GetOrAddAsync("k", static (_, _) => ValueTask.FromResult(-1)).Within(), Is.EqualTo(3));
        Assert.That(sharedCouldBeCancelled, Is.False);
    }

    [Test]
    public async Task With_the_opt_in_the_shared_call_is_cancelled_only_when_the_last_waiter_gives_up()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { CancelWhenAllWaitersCancel = true });
        CancellationToken shared = default;
        int calls = 0;
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        ValueTask<int> Get(CancellationToken ct) => cache.GetOrAddAsync("k", async (_, token) =>
        {
            calls++;
            shared = token;
            await Task.Delay(Timeout.InfiniteTimeSpan, token).ConfigureAwait(false);
            return -1;
        }, ct);

        Task<int> a = Get(first.Token).AsTask();
        Task<int> b = Get(second.Token).AsTask();

        await first.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await a.Within());
        Assert.That(shared.IsCancellationRequested, Is.False, "one waiter is left");

        await second.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await b.Within());
        Assert.That(shared.IsCancellationRequested, Is.True, "nobody is left");

        // The key was freed when the call was abandoned: the next caller starts a new call.
        Assert.That(await cache.GetOrAddAsync("k", static (_, _) => ValueTask.FromResult(9)).Within(), Is.EqualTo(9));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task With_the_opt_in_a_waiter_that_cannot_give_up_keeps_the_call_alive()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { CancelWhenAllWaitersCancel = true });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken shared = default;
        using var cts = new CancellationTokenSource();
        ValueTask<int> Get(CancellationToken ct) => cache.GetOrAddAsync("k", (_, token) =>
        {
            shared = token;
            return new ValueTask<int>(gate.Task);
        }, ct);

        Task<int> cancellable = Get(cts.Token).AsTask();
        Task<int> patient = Get(CancellationToken.None).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await cancellable.Within());

        Assert.That(shared.IsCancellationRequested, Is.False);
        gate.SetResult(4);
        Assert.That(await patient.Within(), Is.EqualTo(4));
        Assert.That(await Get(CancellationToken.None).Within(), Is.EqualTo(4), "the result was cached");
    }

    [Test]
    public async Task With_the_opt_in_a_waiter_that_joins_later_keeps_the_call_alive_after_the_first_leaves()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { CancelWhenAllWaitersCancel = true });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken shared = default;
        using var early = new CancellationTokenSource();
        using var late = new CancellationTokenSource();
        ValueTask<int> Get(CancellationToken ct) => cache.GetOrAddAsync("k", (_, token) =>
        {
            shared = token;
            return new ValueTask<int>(gate.Task);
        }, ct);

        Task<int> first = Get(early.Token).AsTask();
        Task<int> second = Get(late.Token).AsTask();
        await early.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await first.Within());

        Assert.That(shared.IsCancellationRequested, Is.False);
        gate.SetResult(5);
        Assert.That(await second.Within(), Is.EqualTo(5));
    }

    [Test]
    public async Task With_the_opt_in_the_function_gets_a_token_that_can_be_cancelled()
    {
        var cache = new CoroutineCache<string, bool>(new CoroutineCacheOptions<string, bool> { CancelWhenAllWaitersCancel = true });
        Assert.That(await cache.GetOrAddAsync("k", static (_, ct) => ValueTask.FromResult(ct.CanBeCanceled)).Within(), Is.True);
    }

    [Test]
    public async Task A_caller_whose_token_is_already_cancelled_does_not_start_a_call()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { TrackStatistics = true });
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        int calls = 0;

        ValueTask<int> result = cache.GetOrAddAsync("k", (_, _) => ValueTask.FromResult(++calls), cts.Token);

        Assert.That(result.IsCanceled, Is.True);
        Assert.That(calls, Is.Zero);
        Assert.That(cache.Count, Is.Zero);
        Assert.That(cache.GetStatistics()!.Value.Misses, Is.Zero);
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await result);
    }

    [Test]
    public async Task A_caller_whose_token_is_already_cancelled_does_not_join_a_call_in_flight()
    {
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { CancelWhenAllWaitersCancel = true });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        Task<int> running = cache.GetOrAddAsync("k", (_, _) => new ValueTask<int>(gate.Task)).AsTask();
        ValueTask<int> cancelled = cache.GetOrAddAsync("k", (_, _) => new ValueTask<int>(gate.Task), cts.Token);

        Assert.That(cancelled.IsCanceled, Is.True);
        gate.SetResult(1);
        Assert.That(await running.Within(), Is.EqualTo(1));
    }

    [Test]
    public void A_caller_whose_token_is_already_cancelled_still_gets_a_cached_value()
    {
        var cache = new CoroutineCache<string, int>();
        cache.GetOrAddAsync("k", static (_, _) => ValueTask.FromResult(1)).Completed();
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.That(cache.GetOrAddAsync("k", static (_, _) => ValueTask.FromResult(2), cts.Token).Completed(), Is.EqualTo(1));
    }
}
