using AsyncUtils;

namespace AsyncUtils.Coyote.Tests;

/// <summary>The executor's slots: the cap holds while calls queue for the one slot and the executor is disposed.</summary>
public sealed class BackgroundTasksScenarios
{
    [Test]
    public void Executor_never_runs_more_calls_than_its_cap()
    {
        CoyoteRunner.AssertNoBug(Budget.BackgroundTasks, async () =>
        {
            var executor = new CurrentContextExecutor(maxConcurrency: 1);
            var inside = new int[1];
            Func<CancellationToken, Task<int>> Work(int id) => async _ =>
            {
                Check.That(Interlocked.Increment(ref inside[0]) == 1, "two calls inside an executor capped at 1");
                await Task.Yield();
                Interlocked.Decrement(ref inside[0]);
                return id;
            };

            Task<int>[] calls =
            [
                Task.Run(() => executor.Submit(Work(1))),
                Task.Run(() => executor.Submit(Work(2))),
                Task.Run(() => executor.Submit(Work(3))),
            ];
            int[] results = await Task.WhenAll(calls);
            Check.Equal("1,2,3", string.Join(",", results), "results");
            await executor.DisposeAsync();
            Check.Equal(0, executor.OutstandingCount, "outstanding calls after disposal");
        });
    }
}
