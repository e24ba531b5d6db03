using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class CoroutineCacheFailureTests
{
    [Test]
    public async Task A_failed_call_is_evicted_by_default_and_every_waiter_gets_its_exception()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;

        ValueTask<int>[] waiters = [.. Enumerable.Range(0, 3).Select(_ => cache.GetOrAddAsync("a", (_, _) => { calls++; return new ValueTask<int>(gate.Task); }))];
        var failure = new FormatException("boom");
        gate.SetException(failure);

        foreach (ValueTask<int> waiter in waiters)
        {
            var ex = await Assert.ThrowsAsync<FormatException>(async () => await waiter.Within());
            Assert.That(ex, Is.SameAs(failure));
        }

        Assert.That(cache.Count, Is.Zero);
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => { calls++; return ValueTask.FromResult(7); }).Within(), Is.EqualTo(7));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public async Task A_waiter_that_calls_again_when_the_failure_reaches_it_starts_a_new_call()
    {
        var cache = new CoroutineCache<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> failing = cache.GetOrAddAsync("a", (_, _) => new ValueTask<int>(gate.Task)).AsTask();

        Task<int> retried = failing.ContinueWith(
            _ => cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(2)).AsTask(),
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default).Unwrap();
        gate.SetException(new FormatException());

        Assert.That(await retried.Within(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_cancelled_call_is_evicted_by_default_and_its_waiters_see_the_cancellation()
    {
        var cache = new CoroutineCache<string, int>();
        using var cts = new CancellationTokenSource();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> waiter = cache.GetOrAddAsync("a", (_, _) => new ValueTask<int>(gate.Task)).AsTask();

        await cts.CancelAsync();
        gate.SetCanceled(cts.Token);

        var ex = await Assert.ThrowsAsync<TaskCanceledException>(async () => await waiter.Within());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(waiter.IsCanceled, Is.True);
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(1)).Within(), Is.EqualTo(1));
    }

    [Test]
    public async Task With_EvictOnException_off_a_failure_is_cached_for_the_time_to_live()
    {
        var time = new FakeTimeProvider();
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            EvictOnException = false,
            TimeToLive = TimeSpan.FromSeconds(10),
            TimeProvider = time,
        });
        int calls = 0;
        ValueTask<int> Get() => cache.GetOrAddAsync("a", (_, _) => ++calls == 1 ? ValueTask.FromException<int>(new FormatException()) : ValueTask.FromResult(calls));

        Assert.That(Get().AsTask().IsFaulted, Is.True);
        time.Advance(TimeSpan.FromSeconds(9));
        Task<int> cached = Get().AsTask();
        Assert.That(cached.IsFaulted, Is.True);
        await Assert.ThrowsAsync<FormatException>(async () => await cached);
        Assert.That(calls, Is.EqualTo(1));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await Get().Within(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_function_that_throws_synchronously_behaves_like_one_that_faults()
    {
        var cache = new CoroutineCache<string, int>();
        int calls = 0;
        var failure = new FormatException("sync");

        ValueTask<int> task = cache.GetOrAddAsync("a", (_, _) =>
        {
            calls++;
            throw failure;
        });

        Assert.That(task.IsFaulted, Is.True);
        var ex = await Assert.ThrowsAsync<FormatException>(async () => await task.Within());
        Assert.That(ex, Is.SameAs(failure));
        Assert.That(cache.Count, Is.Zero);
        Assert.That(await cache.GetOrAddAsync("a", (_, _) => { calls++; return ValueTask.FromResult(1); }).Within(), Is.EqualTo(1));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public async Task A_function_that_throws_OperationCanceledException_synchronously_gives_a_cancelled_task()
    {
        var cache = new CoroutineCache<string, int>();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        ValueTask<int> task = cache.GetOrAddAsync("a", (_, _) => throw new OperationCanceledException(cts.Token));

        Assert.That(task.IsCanceled, Is.True);
        var ex = await Assert.ThrowsAsync<TaskCanceledException>(async () => await task.Within());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
    }

    [Test]
    public async Task A_timeout_cancels_the_shared_call_frees_the_key_and_fails_the_waiters_with_TimeoutException()
    {
        var time = new FakeTimeProvider();
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            Timeout = TimeSpan.FromSeconds(5),
            TimeProvider = time,
            TrackStatistics = true,
        });
        var ignoresItsToken = new TaskCompletionSource<int>(); // completing it runs the cache's completion inline
        CancellationToken seen = default;

        ValueTask<int> first = cache.GetOrAddAsync("a", (_, ct) => { seen = ct; return new ValueTask<int>(ignoresItsToken.Task); });
        ValueTask<int> joined = cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(-1));
        time.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        Assert.That(seen.IsCancellationRequested, Is.False);

        time.Advance(TimeSpan.FromTicks(1));
        Assert.That(seen.IsCancellationRequested, Is.True);
        await Assert.ThrowsAsync<TimeoutException>(async () => await first.Within());
        await Assert.ThrowsAsync<TimeoutException>(async () => await joined.Within());

        // The key is free even though the function has not finished.
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(2)).Within(), Is.EqualTo(2));
        Assert.That(cache.GetStatistics()!.Value.InFlight, Is.EqualTo(1), "the abandoned function is still running");

        // Its late result is dropped.
        // Completed from the thread pool (no test synchronization context), the cache's own
        // continuation runs inline, so its effect is visible when Task.Run returns.
        await Task.Run(() => ignoresItsToken.SetResult(1)).Within();
        Assert.That(cache.GetStatistics()!.Value.InFlight, Is.Zero);
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(3)).Within(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_function_that_honours_the_timeout_token_still_gives_its_waiters_a_TimeoutException()
    {
        var time = new FakeTimeProvider();
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { Timeout = TimeSpan.FromSeconds(5), TimeProvider = time });

        ValueTask<int> task = cache.GetOrAddAsync("a", async (_, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
            return 1;
        });
        time.Advance(TimeSpan.FromSeconds(5));

        await Assert.ThrowsAsync<TimeoutException>(async () => await task.Within());
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public async Task A_call_that_completes_before_its_timeout_is_cached_and_the_timer_is_stopped()
    {
        var time = new FakeTimeProvider();
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { Timeout = TimeSpan.FromSeconds(5), TimeProvider = time });
        CancellationToken seen = default;

        int value = await cache.GetOrAddAsync("a", (_, ct) => { seen = ct; return ValueTask.FromResult(1); }).Within();
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.That(value, Is.EqualTo(1));
        Assert.That(seen.IsCancellationRequested, Is.False);
        Assert.That(await cache.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(2)).Within(), Is.EqualTo(1));
    }

    [Test]
    public async Task Without_a_timeout_the_function_gets_a_token_that_cannot_be_cancelled()
    {
        var cache = new CoroutineCache<string, bool>();
        bool canBeCanceled = await cache.GetOrAddAsync("a", static (_, ct) => ValueTask.FromResult(ct.CanBeCanceled)).Within();
        Assert.That(canBeCanceled, Is.False);
    }

    [Test]
    public async Task A_timeout_and_the_last_waiter_opt_in_work_together()
    {
        var time = new FakeTimeProvider();
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int>
        {
            Timeout = TimeSpan.FromSeconds(5),
            TimeProvider = time,
            CancelWhenAllWaitersCancel = true,
        });
        using var cts = new CancellationTokenSource();
        ValueTask<int> Get(CancellationToken ct) => cache.GetOrAddAsync("a", static async (_, token) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, token).ConfigureAwait(false);
            return 1;
        }, ct);

        Task<int> patient = Get(CancellationToken.None).AsTask();
        Task<int> impatient = Get(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await impatient.Within());
        Assert.That(patient.IsCompleted, Is.False, "a waiter is left, so the call goes on");

        time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<TimeoutException>(async () => await patient.Within());
        Assert.That(cache.Count, Is.Zero);
    }
}
