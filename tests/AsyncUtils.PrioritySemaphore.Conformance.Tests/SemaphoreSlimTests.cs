// Ported from dotnet/runtime: src/libraries/System.Threading/tests/SemaphoreSlimTests.cs
// (MIT license, Copyright (c) .NET Foundation and Contributors), onto PrioritySemaphore.
//
// Adaptations that apply throughout (each use is also marked "// Adapted:"):
// - xUnit to NUnit. The upstream helpers catch every exception and then check its type; here an
//   expected exception is asserted with Assert.Throws and an unexpected one fails the test.
// - PrioritySemaphore has no Wait(int) / WaitAsync(int) millisecond overloads (an int in first
//   position is a priority in this API): the timeouts are passed as TimeSpan.FromMilliseconds.
// - WaitAsync returns a ValueTask (ValueTask<bool> with a timeout): .AsTask() where a Task's
//   members (Result, Wait, ContinueWith) are used.
// - PrioritySemaphore is not IDisposable and has no AvailableWaitHandle (it holds no kernel
//   object): the Dispose tests state that, and the wait-handle tests read CurrentCount instead.

namespace AsyncUtils.Conformance.Tests;

/// <summary>SemaphoreSlim's own unit tests, run against <see cref="PrioritySemaphore"/>.</summary>
public sealed class SemaphoreSlimTests
{
    /// <summary>SemaphoreSlim public methods and properties to be tested.</summary>
    private enum SemaphoreSlimActions
    {
        Constructor,
        Wait,
        WaitAsync,
        Release,
        Dispose,
        CurrentCount,
        AvailableWaitHandle,
    }

    [Test]
    public static void RunSemaphoreSlimTest0_Ctor()
    {
        RunSemaphoreSlimTest0_Helper(0, 10, null);
        RunSemaphoreSlimTest0_Helper(5, 10, null);
        RunSemaphoreSlimTest0_Helper(10, 10, null);
    }

    [Test]
    public static void RunSemaphoreSlimTest0_Ctor_Negative()
    {
        RunSemaphoreSlimTest0_Helper(10, 0, typeof(ArgumentOutOfRangeException));
        RunSemaphoreSlimTest0_Helper(10, -1, typeof(ArgumentOutOfRangeException));
        RunSemaphoreSlimTest0_Helper(-1, 10, typeof(ArgumentOutOfRangeException));
    }

    [Test]
    public static void RunSemaphoreSlimTest1_Wait()
    {
        // Infinite timeout
        RunSemaphoreSlimTest1_Wait_Helper(10, 10, -1, true, null);
        RunSemaphoreSlimTest1_Wait_Helper(1, 10, -1, true, null);

        // Zero timeout
        RunSemaphoreSlimTest1_Wait_Helper(10, 10, 0, true, null);
        RunSemaphoreSlimTest1_Wait_Helper(1, 10, 0, true, null);
        RunSemaphoreSlimTest1_Wait_Helper(0, 10, 0, false, null);

        // Positive timeout
        RunSemaphoreSlimTest1_Wait_Helper(10, 10, 10, true, null);
        RunSemaphoreSlimTest1_Wait_Helper(1, 10, 10, true, null);
        RunSemaphoreSlimTest1_Wait_Helper(0, 10, 10, false, null);
    }

    [Test]
    public static void RunSemaphoreSlimTest1_Wait_NegativeCases()
    {
        // Invalid timeout
        RunSemaphoreSlimTest1_Wait_Helper(10, 10, -10, true, typeof(ArgumentOutOfRangeException));
        RunSemaphoreSlimTest1_Wait_Helper(10, 10, new TimeSpan(0, 0, int.MaxValue), true, typeof(ArgumentOutOfRangeException));
    }

    [Test]
    public static void RunSemaphoreSlimTest1_WaitAsync()
    {
        // Infinite timeout
        RunSemaphoreSlimTest1_WaitAsync_Helper(10, 10, -1, true, null);
        RunSemaphoreSlimTest1_WaitAsync_Helper(1, 10, -1, true, null);

        // Zero timeout
        RunSemaphoreSlimTest1_WaitAsync_Helper(10, 10, 0, true, null);
        RunSemaphoreSlimTest1_WaitAsync_Helper(1, 10, 0, true, null);
        RunSemaphoreSlimTest1_WaitAsync_Helper(0, 10, 0, false, null);

        // Positive timeout
        RunSemaphoreSlimTest1_WaitAsync_Helper(10, 10, 10, true, null);
        RunSemaphoreSlimTest1_WaitAsync_Helper(1, 10, 10, true, null);
        RunSemaphoreSlimTest1_WaitAsync_Helper(0, 10, 10, false, null);
    }

    [Test]
    public static void RunSemaphoreSlimTest1_WaitAsync_NegativeCases()
    {
        // Invalid timeout
        RunSemaphoreSlimTest1_WaitAsync_Helper(10, 10, -10, true, typeof(ArgumentOutOfRangeException));
        RunSemaphoreSlimTest1_WaitAsync_Helper(10, 10, new TimeSpan(0, 0, int.MaxValue), true, typeof(ArgumentOutOfRangeException));
        RunSemaphoreSlimTest1_WaitAsync2();
    }

    [Test]
    public static void RunSemaphoreSlimTest2_Release()
    {
        // Valid release count
        RunSemaphoreSlimTest2_Release_Helper(5, 10, 1, null);
        RunSemaphoreSlimTest2_Release_Helper(0, 10, 1, null);
        RunSemaphoreSlimTest2_Release_Helper(5, 10, 5, null);
    }

    [Test]
    public static void RunSemaphoreSlimTest2_Release_NegativeCases()
    {
        // Invalid release count
        RunSemaphoreSlimTest2_Release_Helper(5, 10, 0, typeof(ArgumentOutOfRangeException));
        RunSemaphoreSlimTest2_Release_Helper(5, 10, -1, typeof(ArgumentOutOfRangeException));

        // Semaphore Full
        RunSemaphoreSlimTest2_Release_Helper(10, 10, 1, typeof(SemaphoreFullException));
        RunSemaphoreSlimTest2_Release_Helper(5, 10, 6, typeof(SemaphoreFullException));
        RunSemaphoreSlimTest2_Release_Helper(int.MaxValue - 1, int.MaxValue, 10, typeof(SemaphoreFullException));
    }

    [Test]
    public static void RunSemaphoreSlimTest4_Dispose()
    {
        // Adapted: upstream disposes the semaphore and expects ObjectDisposedException from Wait,
        // WaitAsync, Release and AvailableWaitHandle. PrioritySemaphore owns nothing to dispose (no
        // wait handle, no timer outside a timed wait), so it is not IDisposable and every member
        // keeps working for the semaphore's whole life. This states that behaviour.
        var semaphore = new PrioritySemaphore(5, 10);
        Assert.That(semaphore, Is.Not.InstanceOf<IDisposable>());
        foreach (SemaphoreSlimActions action in new[] { SemaphoreSlimActions.CurrentCount, SemaphoreSlimActions.Wait, SemaphoreSlimActions.WaitAsync, SemaphoreSlimActions.Release })
        {
            Assert.DoesNotThrow(() => CallSemaphoreAction(semaphore, action, null), action.ToString());
        }
    }

    [Test]
    public static void RunSemaphoreSlimTest5_CurrentCount()
    {
        RunSemaphoreSlimTest5_CurrentCount_Helper(5, 10, null);
        RunSemaphoreSlimTest5_CurrentCount_Helper(5, 10, SemaphoreSlimActions.Wait);
        RunSemaphoreSlimTest5_CurrentCount_Helper(5, 10, SemaphoreSlimActions.WaitAsync);
        RunSemaphoreSlimTest5_CurrentCount_Helper(5, 10, SemaphoreSlimActions.Release);
    }

    [Test]
    public static void RunSemaphoreSlimTest7_AvailableWaitHandle()
    {
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(5, 10, null, true);
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(0, 10, null, false);

        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(5, 10, SemaphoreSlimActions.Wait, true);
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(1, 10, SemaphoreSlimActions.Wait, false);
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(5, 10, SemaphoreSlimActions.Wait, true);

        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(5, 10, SemaphoreSlimActions.WaitAsync, true);
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(1, 10, SemaphoreSlimActions.WaitAsync, false);
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(5, 10, SemaphoreSlimActions.WaitAsync, true);
        RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(0, 10, SemaphoreSlimActions.Release, true);
    }

    /// <summary>Test SemaphoreSlim Wait and Release methods concurrently.</summary>
    [TestCase(5, 1000, 50, 50, 50, 0, 5, 1000)]
    [TestCase(0, 1000, 50, 25, 25, 25, 0, 500)]
    [TestCase(0, 1000, 50, 0, 0, 50, 0, 100)]
    public static void RunSemaphoreSlimTest8_ConcWaitAndRelease(
        int initial, int maximum, int waitThreads, int releaseThreads, int succeededWait, int failedWait, int finalCount, int timeout)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);
        var threads = new Task[waitThreads + releaseThreads];
        int succeeded = 0;
        int failed = 0;
        using var mre = new ManualResetEvent(false);

        // launch threads
        for (int i = 0; i < threads.Length; i++)
        {
            if (i < waitThreads)
            {
                // LongRunning forces another thread, so the release tasks are not queued behind
                // the blocked wait tasks (upstream's comment, abridged).
                threads[i] = new Task(
                    () =>
                    {
                        mre.WaitOne();

                        // Adapted: Wait(int) is Wait(TimeSpan) here (see the file header).
                        if (semaphore.Wait(TimeSpan.FromMilliseconds(timeout)))
                        {
                            Interlocked.Increment(ref succeeded);
                        }
                        else
                        {
                            Interlocked.Increment(ref failed);
                        }
                    },
                    TaskCreationOptions.LongRunning);
            }
            else
            {
                threads[i] = new Task(() =>
                {
                    mre.WaitOne();
                    semaphore.Release();
                });
            }

            threads[i].Start(TaskScheduler.Default);
        }

        mre.Set();

        // wait work to be done;
        Task.WaitAll(threads);

        // check the number of succeeded and failed wait
        Assert.That(succeeded, Is.EqualTo(succeededWait));
        Assert.That(failed, Is.EqualTo(failedWait));
        Assert.That(semaphore.CurrentCount, Is.EqualTo(finalCount));
    }

    /// <summary>Test SemaphoreSlim WaitAsync and Release methods concurrently.</summary>
    [TestCase(5, 1000, 50, 50, 50, 0, 5, 500)]
    [TestCase(0, 1000, 50, 25, 25, 25, 0, 500)]
    [TestCase(0, 1000, 50, 0, 0, 50, 0, 100)]
    public static void RunSemaphoreSlimTest8_ConcWaitAsyncAndRelease(
        int initial, int maximum, int waitThreads, int releaseThreads, int succeededWait, int failedWait, int finalCount, int timeout)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);
        var tasks = new Task[waitThreads + releaseThreads];
        int succeeded = 0;
        int failed = 0;
        using var mre = new ManualResetEvent(false);

        // launch threads
        for (int i = 0; i < tasks.Length; i++)
        {
            if (i < waitThreads)
            {
                tasks[i] = Task.Run(async () =>
                {
                    mre.WaitOne();

                    // Adapted: WaitAsync(int) is WaitAsync(TimeSpan) here (see the file header).
                    if (await semaphore.WaitAsync(TimeSpan.FromMilliseconds(timeout)))
                    {
                        Interlocked.Increment(ref succeeded);
                    }
                    else
                    {
                        Interlocked.Increment(ref failed);
                    }
                });
            }
            else
            {
                tasks[i] = Task.Run(() =>
                {
                    mre.WaitOne();
                    semaphore.Release();
                });
            }
        }

        mre.Set();

        // wait work to be done;
        Task.WaitAll(tasks);

        Assert.That(succeeded, Is.EqualTo(succeededWait));
        Assert.That(failed, Is.EqualTo(failedWait));
        Assert.That(semaphore.CurrentCount, Is.EqualTo(finalCount));
    }

    [TestCase(10, 10)]
    [TestCase(1, 10)]
    [TestCase(10, 1)]
    public static void TestConcurrentWaitAndWaitAsync(int syncWaiters, int asyncWaiters)
    {
        int totalWaiters = syncWaiters + asyncWaiters;

        var semaphore = new PrioritySemaphore(0);
        var tasks = new Task[totalWaiters];

        const int ITERS = 10;
        for (int i = 0; i < syncWaiters; i++)
        {
            tasks[i] = Task.Run(() =>
            {
                for (int iter = 0; iter < ITERS; iter++)
                {
                    semaphore.Wait();
                    semaphore.Release();
                }
            });
        }

        for (int i = syncWaiters; i < totalWaiters; i++)
        {
            tasks[i] = Task.Run(async () =>
            {
                for (int iter = 0; iter < ITERS; iter++)
                {
                    await semaphore.WaitAsync();
                    semaphore.Release();
                }
            });
        }

        semaphore.Release(totalWaiters / 2);

        // Adapted: bounded, so that a lost permit fails the test instead of hanging the run.
        Assert.That(Task.WaitAll(tasks, TimeSpan.FromSeconds(30)), Is.True);
    }

    [Test]
    public static async Task WaitAsync_Timeout_NoUnhandledException()
    {
        // Adapted: upstream runs this in a separate process (RemoteExecutor); here in-process. The
        // handler only records exceptions raised while this test runs.
        Exception? error = null;
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) => Volatile.Write(ref error, e.Exception);
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            var sem = new PrioritySemaphore(0);
            for (int i = 0; i < 2; ++i)
            {
                // Adapted: WaitAsync(1) is WaitAsync(TimeSpan.FromMilliseconds(1)) here.
                await sem.WaitAsync(TimeSpan.FromMilliseconds(1));
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }

        Assert.That(Volatile.Read(ref error), Is.Null);
    }

    private static void RunSemaphoreSlimTest0_Helper(int initial, int maximum, Type? exceptionType)
    {
        if (exceptionType is not null)
        {
            // Adapted: Assert.Throws instead of a catch-all (see the file header).
            Assert.Throws(exceptionType, () => _ = new PrioritySemaphore(initial, maximum));
            return;
        }

        var semaphore = new PrioritySemaphore(initial, maximum);
        Assert.That(semaphore.CurrentCount, Is.EqualTo(initial));
    }

    /// <param name="timeout">The timeout parameter for the wait method, it must be either int or TimeSpan.</param>
    private static void RunSemaphoreSlimTest1_Wait_Helper(int initial, int maximum, object timeout, bool returnValue, Type? exceptionType)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);

        // Adapted: Wait(int) is Wait(TimeSpan.FromMilliseconds) (see the file header).
        TimeSpan span = timeout is TimeSpan t ? t : TimeSpan.FromMilliseconds((int)timeout);
        if (exceptionType is not null)
        {
            Assert.Throws(exceptionType, () => semaphore.Wait(span));
            return;
        }

        bool result = semaphore.Wait(span);
        Assert.That(result, Is.EqualTo(returnValue));
        if (result)
        {
            Assert.That(semaphore.CurrentCount, Is.EqualTo(initial - 1));
        }
    }

    /// <param name="timeout">The timeout parameter for the wait method, it must be either int or TimeSpan.</param>
    private static void RunSemaphoreSlimTest1_WaitAsync_Helper(int initial, int maximum, object timeout, bool returnValue, Type? exceptionType)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);

        // Adapted: WaitAsync(int) is WaitAsync(TimeSpan.FromMilliseconds) (see the file header).
        TimeSpan span = timeout is TimeSpan t ? t : TimeSpan.FromMilliseconds((int)timeout);
        if (exceptionType is not null)
        {
            // As SemaphoreSlim: the bad argument throws synchronously, not through the task.
            Assert.Throws(exceptionType, () => semaphore.WaitAsync(span));
            return;
        }

        // Adapted: .AsTask().Result, as Result of a pending ValueTask does not block.
        bool result = semaphore.WaitAsync(span).AsTask().Result;
        Assert.That(result, Is.EqualTo(returnValue));
        if (result)
        {
            Assert.That(semaphore.CurrentCount, Is.EqualTo(initial - 1));
        }
    }

    /// <summary>
    /// Test SemaphoreSlim WaitAsync.
    /// The test verifies that SemaphoreSlim.Release() does not execute any user code synchronously.
    /// </summary>
    private static void RunSemaphoreSlimTest1_WaitAsync2()
    {
        var semaphore = new PrioritySemaphore(1);
        using var counter = new ThreadLocal<int>(() => 0);
        bool nonZeroObserved = false;

        const int asyncActions = 20;
        int remAsyncActions = asyncActions;
        using var mre = new ManualResetEvent(false);

        // Adapted: an async Task lambda instead of an async void delegate, so a failure inside is
        // observed; the behaviour tested is the same.
        Func<int, Task> doWorkAsync = async i =>
        {
            await semaphore.WaitAsync();
            if (counter.Value > 0)
            {
                nonZeroObserved = true;
            }

            counter.Value++;
            semaphore.Release();
            counter.Value--;

            if (Interlocked.Decrement(ref remAsyncActions) == 0)
            {
                mre.Set();
            }
        };

        semaphore.Wait();
        var work = new List<Task>();
        for (int i = 0; i < asyncActions; i++)
        {
            work.Add(doWorkAsync(i));
        }

        semaphore.Release();

        mre.WaitOne();
        Task.WaitAll([.. work]);

        Assert.That(nonZeroObserved, Is.False, "RunSemaphoreSlimTest1_WaitAsync2:  FAILED.  SemaphoreSlim.Release() seems to have synchronously invoked a continuation.");
    }

    private static void RunSemaphoreSlimTest2_Release_Helper(int initial, int maximum, int releaseCount, Type? exceptionType)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);
        if (exceptionType is not null)
        {
            // Adapted: Assert.Throws instead of a catch-all; and the failed release changed nothing.
            Assert.Throws(exceptionType, () => semaphore.Release(releaseCount));
            Assert.That(semaphore.CurrentCount, Is.EqualTo(initial));
            return;
        }

        int oldCount = semaphore.Release(releaseCount);
        Assert.That(oldCount, Is.EqualTo(initial));
        Assert.That(semaphore.CurrentCount, Is.EqualTo(initial + releaseCount));
    }

    /// <summary>Call specific SemaphoreSlim method or property.</summary>
    /// <returns>The action return value, null if the action returns void.</returns>
    private static object? CallSemaphoreAction(PrioritySemaphore semaphore, SemaphoreSlimActions? action, object? param)
    {
        if (action == SemaphoreSlimActions.Wait)
        {
            if (param is TimeSpan span)
            {
                return semaphore.Wait(span);
            }
            else if (param is int ms)
            {
                // Adapted: Wait(int) is Wait(TimeSpan.FromMilliseconds).
                return semaphore.Wait(TimeSpan.FromMilliseconds(ms));
            }

            semaphore.Wait();
            return null;
        }
        else if (action == SemaphoreSlimActions.WaitAsync)
        {
            if (param is TimeSpan span)
            {
                return semaphore.WaitAsync(span).AsTask().Result;
            }
            else if (param is int ms)
            {
                // Adapted: WaitAsync(int) is WaitAsync(TimeSpan.FromMilliseconds).
                return semaphore.WaitAsync(TimeSpan.FromMilliseconds(ms)).AsTask().Result;
            }

            // Adapted: .AsTask().Wait() on the ValueTask.
            semaphore.WaitAsync().AsTask().Wait();
            return null;
        }
        else if (action == SemaphoreSlimActions.Release)
        {
            if (param is not null)
            {
                return semaphore.Release((int)param);
            }

            return semaphore.Release();
        }
        else if (action == SemaphoreSlimActions.CurrentCount)
        {
            return semaphore.CurrentCount;
        }

        // Adapted: Dispose and AvailableWaitHandle do not exist (see RunSemaphoreSlimTest4_Dispose).
        return null;
    }

    private static void RunSemaphoreSlimTest5_CurrentCount_Helper(int initial, int maximum, SemaphoreSlimActions? action)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);

        CallSemaphoreAction(semaphore, action, null);
        if (action is null)
        {
            Assert.That(semaphore.CurrentCount, Is.EqualTo(initial));
        }
        else
        {
            Assert.That(semaphore.CurrentCount, Is.EqualTo(initial + (action == SemaphoreSlimActions.Release ? 1 : -1)));
        }
    }

    private static void RunSemaphoreSlimTest7_AvailableWaitHandle_Helper(int initial, int maximum, SemaphoreSlimActions? action, bool state)
    {
        var semaphore = new PrioritySemaphore(initial, maximum);

        CallSemaphoreAction(semaphore, action, null);

        // Adapted: no AvailableWaitHandle (no kernel object); the handle is signalled exactly when
        // CurrentCount > 0, so that is what is asserted.
        Assert.That(semaphore.CurrentCount > 0, Is.EqualTo(state));
    }
}
