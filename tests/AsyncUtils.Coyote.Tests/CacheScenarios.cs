using AsyncUtils;

namespace AsyncUtils.Coyote.Tests;

/// <summary>The caches' join/cancel: one call per key, and one caller giving up never cancels the shared call.</summary>
public sealed class CacheScenarios
{
    [Test]
    public void TaskCache_joiners_share_one_call_and_a_joiner_that_stops_waiting_does_not_cancel_it()
    {
        CoyoteRunner.AssertNoBug(Budget.TaskCache, async () =>
        {
            var cache = new TaskCache<string, int>();
            var calls = new int[1];
            var result = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            Func<string, CancellationToken, Task<int>> function = (_, _) =>
            {
                Interlocked.Increment(ref calls[0]);
                return result.Task;
            };
            using var cancel = new CancellationTokenSource();

            Task<int> patient = Task.Run(() => cache.GetOrAddAsync("k", function));
            Task<bool> impatient = Task.Run(() => WaitOrGiveUp(cache.GetOrAddAsync("k", function), cancel.Token));
            await Task.WhenAll(Task.Run(cancel.Cancel), Task.Run(() => result.SetResult(42)));

            await Check.Settled(patient, "the patient caller");
            await Check.Settled(impatient, "the impatient caller");
            Check.Equal(42, await patient, "the patient caller's value");
            Task<int> again = cache.GetOrAddAsync("k", function);
            await Check.Settled(again, "a caller after the call completed");
            Check.Equal(42, await again, "the cached value");
            Check.Equal(1, Volatile.Read(ref calls[0]), "calls for one key");
        });
    }

    [Test]
    public void TaskCache_caller_arriving_as_the_call_fails_never_gets_a_cached_failure()
    {
        CoyoteRunner.AssertNoBug(Budget.TaskCache, async () =>
        {
            var cache = new TaskCache<string, int>();
            var calls = new int[1];
            var failure = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            Func<string, CancellationToken, Task<int>> function = (_, _) =>
                Interlocked.Increment(ref calls[0]) == 1 ? failure.Task : Task.FromResult(7);

            Task<int> first = cache.GetOrAddAsync("k", function);
            Task<int> late = Task.Run(() => cache.GetOrAddAsync("k", function));
            await Task.Run(() => failure.SetException(new InvalidOperationException("boom")));

            await Check.Settled(first, "the first caller");
            await Check.Settled(late, "the late caller");
            Check.That(await Faults(first), "the first caller sees the failure");
            bool lateFailed = await Faults(late);
            Check.Equal(lateFailed ? 1 : 2, Volatile.Read(ref calls[0]), "a late caller either joined the failing call or started a new one");
            Task<int> after = cache.GetOrAddAsync("k", function);
            await Check.Settled(after, "a caller after the failure");
            Check.Equal(7, await after, "after the failure the key is computed anew");
        });
    }

    [Test]
    public void CoroutineCache_joiner_that_cancels_does_not_cancel_the_shared_call()
    {
        CoyoteRunner.AssertNoBug(Budget.CoroutineCache, async () =>
        {
            var cache = new CoroutineCache<string, int>();
            var calls = new int[1];
            var tokens = new List<CancellationToken>();
            var result = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            Func<string, CancellationToken, ValueTask<int>> function = async (_, token) =>
            {
                Interlocked.Increment(ref calls[0]);
                lock (tokens)
                {
                    tokens.Add(token);
                }

                return await result.Task.ConfigureAwait(false);
            };
            using var cancel = new CancellationTokenSource();

            Task<int?> patient = Task.Run(() => Get(cache, function, CancellationToken.None));
            Task<int?> impatient = Task.Run(() => Get(cache, function, cancel.Token));
            await Task.WhenAll(Task.Run(cancel.Cancel), Task.Run(() => result.SetResult(42)));

            Check.Equal(42, await patient, "the patient caller's value");
            int? other = await impatient;
            Check.That(other is null or 42, "the impatient caller gets the shared value or its own cancellation");
            Check.Equal(42, await Get(cache, function, CancellationToken.None), "the cached value");
            Check.Equal(1, Volatile.Read(ref calls[0]), "calls for one key");
            lock (tokens)
            {
                Check.That(tokens.TrueForAll(t => !t.IsCancellationRequested), "the shared call's token was cancelled by one caller");
            }
        });
    }

    // Explicit: with CancelWhenAllWaitersCancel the cache cancels the shared call from the thread
    // pool, outside Coyote's control, and such a callback can post to the synchronization context
    // of an iteration that has already ended; Coyote 1.7 then throws a NullReferenceException on
    // that pool thread, which kills the test host (seen once in a few runs). Run it on its own.
    [Test]
    [Explicit("Can crash the test host through Coyote 1.7's handling of a late thread-pool callback; run it alone (see README.md)")]
    public void CoroutineCache_with_cancel_when_all_cancel_keeps_the_call_for_a_caller_still_waiting()
    {
        CoyoteRunner.AssertNoBug(Budget.CoroutineCache, async () =>
        {
            var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { CancelWhenAllWaitersCancel = true });
            var calls = new int[1];
            var result = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            Func<string, CancellationToken, ValueTask<int>> function = async (_, token) =>
            {
                if (Interlocked.Increment(ref calls[0]) > 1)
                {
                    return 7; // a new call, started after an earlier one was abandoned
                }

                var abandoned = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
                using (token.Register(() => abandoned.TrySetCanceled(token)))
                {
                    Task<int> first = await Task.WhenAny(result.Task, abandoned.Task).ConfigureAwait(false);
                    return await first.ConfigureAwait(false);
                }
            };
            using var cancelA = new CancellationTokenSource();
            using var patientB = new CancellationTokenSource(); // cancellable, never cancelled

            Task<int?> a = Task.Run(() => Get(cache, function, cancelA.Token));
            Task<int?> b = Task.Run(() => Get(cache, function, patientB.Token));
            await Task.WhenAll(Task.Run(cancelA.Cancel), Task.Run(() => result.TrySetResult(42)));
            await Check.Settled(a, "the caller that cancels");
            await Check.Settled(b, "the caller that waits");
            int? resultA = await a;
            int? resultB = await b;
            Check.That(resultA is null or 42 or 7, $"the caller that cancels gets a value or its own cancellation (got {Show(resultA)})");
            Check.That(resultB is 42 or 7, $"a caller still waiting was handed another caller's cancellation (got {Show(resultB)})");

            Task<int?> laterCall = Get(cache, function, CancellationToken.None);
            await Check.Settled(laterCall, "a caller after the others");
            int? later = await laterCall;
            Check.That(later is 42 or 7, $"a later caller gets a value, never an abandoned call's cancellation (got {Show(later)})");
        });
    }

    private static string Show(int? value) => value is int v ? v.ToString(System.Globalization.CultureInfo.InvariantCulture) : "cancelled";

    private static async Task<bool> WaitOrGiveUp(Task<int> shared, CancellationToken token)
    {
        var gaveUp = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using (token.Register(() => gaveUp.TrySetResult(0)))
        {
            return await Task.WhenAny(shared, gaveUp.Task).ConfigureAwait(false) == shared;
        }
    }

    private static async Task<bool> Faults(Task<int> task)
    {
        try
        {
            await task.ConfigureAwait(false);
            return false;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private static async Task<int?> Get(CoroutineCache<string, int> cache, Func<string, CancellationToken, ValueTask<int>> function, CancellationToken token)
    {
        try
        {
            return await cache.GetOrAddAsync("k", function, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
