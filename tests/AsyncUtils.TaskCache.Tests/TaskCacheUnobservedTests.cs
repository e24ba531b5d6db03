using System.Runtime.CompilerServices;

namespace AsyncUtils.Tests;

/// <summary>
/// The shared task's failure belongs to the cache: when every caller stopped waiting (with
/// <c>WaitAsync</c>, as the README advises) and the call then fails, nothing reaches
/// <see cref="TaskScheduler.UnobservedTaskException"/>. The test project runs its tests one at a
/// time (no Parallelizable attribute), and the handler filters on a message unique to each test.
/// </summary>
public sealed class TaskCacheUnobservedTests
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
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var cache = new TaskCache<string, int>(new TaskCacheOptions<string, int> { Timeout = timeout, TimeProvider = time });

        var gate = new TaskCompletionSource<int>();
        Task<int> shared = cache.GetOrAddAsync(marker, (_, _) => gate.Task);
        using var stop = new CancellationTokenSource();
        Task<int> waiting = shared.WaitAsync(stop.Token);
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

        // Waits without observing: the continuation may run on the thread pool.
        Assert.That(SpinWait.SpinUntil(() => shared.IsCompleted, TimeSpan.FromSeconds(5)), Is.True);
        Assert.That(shared.IsFaulted, Is.True);
    }
}
