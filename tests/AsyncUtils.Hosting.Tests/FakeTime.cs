using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

internal static class FakeTime
{
    /// <summary>
    /// Advances <paramref name="time"/> by <paramref name="step"/> until <paramref name="done"/>
    /// has completed. A scheduler consumer arms its timer relative to the time it read when it
    /// began to wait; one advance made between that read and the timer's creation would leave the
    /// timer short of its due time, so the test keeps advancing (the payload is never early, only
    /// the fake clock moves on). Fails after 20 s of real time.
    /// </summary>
    public static async Task AdvanceUntilAsync(this FakeTimeProvider time, TimeSpan step, Task done)
    {
        var bound = System.Diagnostics.Stopwatch.StartNew();
        while (!done.IsCompleted)
        {
            if (bound.Elapsed > TimeSpan.FromSeconds(20))
            {
                Assert.Fail("what the test waited for did not happen while the fake clock advanced");
            }

            time.Advance(step);
            await Task.WhenAny(done, Task.Delay(10));
        }

        await done;
    }
}
