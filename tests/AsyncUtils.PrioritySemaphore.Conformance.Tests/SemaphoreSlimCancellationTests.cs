// Ported from dotnet/runtime: src/libraries/System.Threading/tests/SemaphoreSlimCancellationTests.cs
// (MIT license, Copyright (c) .NET Foundation and Contributors), onto PrioritySemaphore.
// Adaptations as in SemaphoreSlimTests.cs: TimeSpan timeouts instead of int milliseconds,
// .AsTask() on the ValueTasks, NUnit instead of xUnit; each is marked "// Adapted:".

namespace AsyncUtils.Conformance.Tests;

/// <summary>SemaphoreSlim's own cancellation tests, run against <see cref="PrioritySemaphore"/>.</summary>
public static class SemaphoreSlimCancellationTests
{
    [Test]
    public static void CancelBeforeWait()
    {
        var semaphoreSlim = new PrioritySemaphore(2);

        using var cs = new CancellationTokenSource();
        cs.Cancel();
        CancellationToken ct = cs.Token;

        const int millisec = 100;
        var timeSpan = new TimeSpan(100);
        EnsureOperationCanceledExceptionThrown(() => semaphoreSlim.Wait(ct), ct);

        // Adapted: Wait(int, token) is Wait(TimeSpan, token) here.
        EnsureOperationCanceledExceptionThrown(() => semaphoreSlim.Wait(TimeSpan.FromMilliseconds(millisec), ct), ct);
        EnsureOperationCanceledExceptionThrown(() => semaphoreSlim.Wait(timeSpan, ct), ct);

        // Adapted: upstream disposes the semaphore here; PrioritySemaphore has nothing to dispose.
        // Added: nothing was taken by the cancelled waits.
        Assert.That(semaphoreSlim.CurrentCount, Is.EqualTo(2));
    }

    [Test]
    public static void CancelAfterWait()
    {
        using var cancellationTokenSource = new CancellationTokenSource();
        CancellationToken cancellationToken = cancellationTokenSource.Token;

        var semaphoreSlim = new PrioritySemaphore(0); // semaphore that will block all waiters

        Task.Run(() =>
        {
            for (int i = 0; i < 300; i++)
            {
            }

            cancellationTokenSource.Cancel();
        });

        // Now wait.. the wait should abort and an exception should be thrown
        EnsureOperationCanceledExceptionThrown(() => semaphoreSlim.Wait(cancellationToken), cancellationToken);

        // the token should not have any listeners.
        // currently we don't expose this.. but it was verified manually
        // Added: the waiter left the queue.
        Assert.That(semaphoreSlim.WaitingCount, Is.Zero);
    }

    [Test]
    public static async Task Cancel_WaitAsync_ContinuationInvokedAsynchronously()
    {
        await Task.Run(async () => // escape the test framework's SynchronizationContext
        {
            using var cts = new CancellationTokenSource();
            using var tl = new ThreadLocal<object?>();

            object sentinel = new();

            var sem = new PrioritySemaphore(0);

            // Adapted: .AsTask() to reach ContinueWith.
            Task continuation = sem.WaitAsync(cts.Token).AsTask().ContinueWith(
                prev =>
                {
                    Assert.That(prev.Status, Is.EqualTo(TaskStatus.Canceled));
                    Assert.That(tl.Value, Is.Not.SameAs(sentinel));
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);

            Assert.That(continuation.Status, Is.EqualTo(TaskStatus.WaitingForActivation));
            Assert.That(sem.CurrentCount, Is.Zero);

            tl.Value = sentinel;
            cts.Cancel();
            tl.Value = null;

            await continuation;
        });
    }

    private static void EnsureOperationCanceledExceptionThrown(Action action, CancellationToken token)
    {
        OperationCanceledException operationCanceledEx = Assert.Throws<OperationCanceledException>(action)!;
        Assert.That(operationCanceledEx.CancellationToken, Is.EqualTo(token));
    }
}
