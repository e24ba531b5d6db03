using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// The shared call's failure belongs to the cache: when every caller stopped waiting (its token)
/// and the call then fails, nothing reaches <see cref="TaskScheduler.UnobservedTaskException"/>.
/// The test project runs its tests one at a time (no Parallelizable attribute), and the handler
/// filters on a message unique to each test.
/// </summary>
public sealed class CoroutineCacheUnobservedTests
{
    [Test]
    public void A_call_that_fails_after_every_caller_stopped_waiting_raises_no_unobserved_task_exception()
    {
        string marker = $"unobserved-marker-{Guid.NewGuid():N}";
        AssertNoUnobservedException(marker, () => AbandonFailingCall(marker, timeout: null));
    }

    [Test]
    public void A_call_that_times_out_after_every_caller_stopped_waiting_raises_no_unobserved_task_exception()
    {
        // The TimeoutException names the duration: an odd one is the marker.
        TimeSpan timeout = TimeSpan.FromTicks(12_345_678_9);
        AssertNoUnobservedException(timeout.ToString(), () => AbandonFailingCall("key", timeout));
    }

    private static void AssertNoUnobservedException(string marker, Action scenario)
    {
        int seen = 0;
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.Flatten().InnerExceptions.Any(x => x.Message.Contains(marker, StringComparison.Ordinal)))
            {
                Interlocked.Increment(ref seen);
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            for (int round = 0; round < 3; round++)
            {
                scenario();
            }

            for (int i = 0; i < 5; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        Assert.That(Volatile.Read(ref seen), Is.Zero);
    }

    /// <summary>Runs the scenario in a frame of its own, so that nothing of it stays reachable afterwards.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AbandonFailingCall(string marker, TimeSpan? timeout)
    {
        var time = new FakeTimeProvider();
        var cache = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { Timeout = timeout, TimeProvider = time });

        var gate = new TaskCompletionSource<int>();
        using var stop = new CancellationTokenSource();
        Task<int> waiting = cache.GetOrAddAsync(marker, (_, _) => new ValueTask<int>(gate.Task), stop.Token).AsTask();
        stop.Cancel();
        Assert.That(waiting.IsCanceled, Is.True);

        if (timeout is TimeSpan duration)
        {
            time.Advance(duration);
        }
        else
        {
            gate.SetException(new InvalidOperationException(marker));
        }

        // The continuation may run on the thread pool.
        Assert.That(SpinWait.SpinUntil(() => cache.Count == 0, TimeSpan.FromSeconds(5)), Is.True);
    }
}
