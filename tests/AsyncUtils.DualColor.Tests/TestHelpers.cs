namespace AsyncUtils.Tests;

internal static class TestHelpers
{
    internal static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Spins until a condition holds: the only way to know that another thread has started to
    /// block (it shows in WaitingTakers/WaitingPutters). Bounded; fails the test on timeout.
    /// </summary>
    internal static void WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        var spin = default(SpinWait);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting until {what}");
            }

            spin.SpinOnce();
        }
    }

    /// <summary>Runs blocking code on a dedicated thread (never a pool thread), as a task to await.</summary>
    internal static Task<T> OnThread<T>(Func<T> body)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(body());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        { IsBackground = true };
        thread.Start();
        return done.Task;
    }

    internal static Task OnThread(Action body) => OnThread(() =>
    {
        body();
        return true;
    });

    internal static Task<T> Bounded<T>(this Task<T> task) => task.WaitAsync(Bound);

    internal static Task Bounded(this Task task) => task.WaitAsync(Bound);

    internal static Task<T> Bounded<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Bound);

    internal static Task Bounded(this ValueTask task) => task.AsTask().WaitAsync(Bound);
}
