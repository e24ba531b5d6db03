namespace AsyncUtils.Tests;

public sealed class BackgroundTasksMetricsTests
{
    private const string Meter = "AsyncUtils.BackgroundTasks";
    private const string ExecutorName = "asyncutils.executor.name";
    private const string GroupName = "asyncutils.task_group.name";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static string UniqueName() => $"background-{Guid.NewGuid():N}";

    private static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Test]
    public async Task Executor_in_flight_and_waiting_follow_its_slots_under_its_name()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, ExecutorName, name);
        var executor = new CurrentContextExecutor(2, name);
        Assert.That(executor.Name, Is.EqualTo(name));
        Assert.That((capture.Observe("asyncutils.executor.in_flight"), capture.Observe("asyncutils.executor.waiting")), Is.EqualTo(((long?)0, (long?)0)));

        TaskCompletionSource[] gates = [NewGate(), NewGate(), NewGate()];
        TaskCompletionSource thirdStarted = NewGate();
        Task first = executor.Submit(_ => gates[0].Task);
        Task second = executor.Submit(_ => gates[1].Task);
        Task third = executor.Submit(_ =>
        {
            thirdStarted.SetResult();
            return gates[2].Task;
        });
        Assert.That((capture.Observe("asyncutils.executor.in_flight"), capture.Observe("asyncutils.executor.waiting")), Is.EqualTo(((long?)2, (long?)1)));

        gates[0].SetResult();
        await thirdStarted.Task.WaitAsync(Bound);
        await first.WaitAsync(Bound);
        Assert.That((capture.Observe("asyncutils.executor.in_flight"), capture.Observe("asyncutils.executor.waiting")), Is.EqualTo(((long?)2, (long?)0)));

        gates[1].SetResult();
        gates[2].SetResult();
        await executor.DisposeAsync().AsTask().WaitAsync(Bound);
        await Task.WhenAll(second, third).WaitAsync(Bound);
        Assert.That((capture.Observe("asyncutils.executor.in_flight"), capture.Observe("asyncutils.executor.waiting")), Is.EqualTo(((long?)0, (long?)0)));
    }

    [Test]
    public async Task Executor_faults_count_failed_calls_and_map_items_but_not_cancellations()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, ExecutorName, name);
        await using var executor = new CurrentContextExecutor(4, name);

        await Assert.ThrowsAsync<FormatException>(() => executor.Submit(_ => throw new FormatException("sync")).WaitAsync(Bound));
        await Assert.ThrowsAsync<FormatException>(() => executor.Submit<int>(async _ => { await Task.Yield(); throw new FormatException("async"); }).WaitAsync(Bound));
        await Assert.CatchAsync<OperationCanceledException>(() => executor.Submit(_ => throw new OperationCanceledException()).WaitAsync(Bound));
        await executor.Submit(_ => Task.CompletedTask).WaitAsync(Bound);

        var outcomes = new List<MapResult<int, int>>();
        await foreach (MapResult<int, int> outcome in executor.Map([1, 2, 3, 4], (i, _) => i % 2 == 0 ? Task.FromException<int>(new FormatException($"{i}")) : Task.FromResult(i)))
        {
            outcomes.Add(outcome);
        }

        Assert.That(outcomes.Count(o => !o.IsSuccess), Is.EqualTo(2));
        Assert.That(capture.Events("asyncutils.executor.faults").Sum(m => m.Value), Is.EqualTo(4), "two calls and two items failed; the cancellation and the successes are not faults");
    }

    [Test]
    public async Task Task_group_in_flight_counts_unfinished_tasks_and_faults_count_every_exception_kept_in_Faults()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, GroupName, name);
        var group = new TaskGroup(new TaskGroupOptions { Name = name });
        TaskCompletionSource release = NewGate();
        using var foreign = new CancellationTokenSource();
        foreign.Cancel();

        group.Start(async _ => await release.Task);
        group.Start(async _ => { await release.Task; throw new FormatException("one"); });
        group.Start(_ => throw new OperationCanceledException(foreign.Token)); // someone else's cancellation: a fault
        group.Add(Task.WhenAll(Task.FromException(new FormatException("two")), Task.FromException(new FormatException("three"))));
        Assert.That(capture.Observe("asyncutils.task_group.in_flight"), Is.EqualTo(2));

        release.SetResult();
        AggregateException? thrown = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(thrown!.InnerExceptions, Has.Count.EqualTo(4));
        Assert.That(capture.Events("asyncutils.task_group.faults").Sum(m => m.Value), Is.EqualTo(group.Faults.Count));
        Assert.That(capture.Observe("asyncutils.task_group.in_flight"), Is.Zero);
    }

    [Test]
    public async Task A_listener_that_throws_breaks_neither_the_executor_nor_the_group()
    {
        string name = UniqueName();
        using var executorCapture = new MetricCapture(Meter, ExecutorName, name, throwing: true);
        using var groupCapture = new MetricCapture(Meter, GroupName, name, throwing: true);

        var executor = new CurrentContextExecutor(1, name);
        Task failed = executor.Submit(async _ => { await Task.Yield(); throw new FormatException("call"); });
        Task<int> ok = executor.Submit(async _ => { await Task.Yield(); return 7; });
        await Assert.ThrowsAsync<FormatException>(() => failed.WaitAsync(Bound));
        Assert.That(await ok.WaitAsync(Bound), Is.EqualTo(7));
        await executor.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(executor.OutstandingCount, Is.Zero, "the failed call gave its slot back");

        var group = new TaskGroup(new TaskGroupOptions { Name = name });
        group.Start(async _ => { await Task.Yield(); throw new FormatException("task"); });
        group.Start(async _ => await Task.Yield());
        AggregateException? thrown = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(thrown!.InnerExceptions.Single(), Is.InstanceOf<FormatException>(), "the task's failure, not the listener's");
        Assert.That(group.Count, Is.Zero);
        Assert.That((executorCapture.Seen, groupCapture.Seen), Is.EqualTo((1, 1)), "each listener saw (and threw on) the fault");
    }

    [Test]
    public async Task Without_a_listener_nothing_is_recorded_and_a_later_listener_sees_only_current_counts()
    {
        string name = UniqueName();
        Assert.That(BackgroundTasksMetrics.ExecutorFaults.Enabled || BackgroundTasksMetrics.TaskGroupFaults.Enabled, Is.False, "no listener is subscribed");
        await using var executor = new CurrentContextExecutor(2, name);
        await Assert.ThrowsAsync<FormatException>(() => executor.Submit(_ => throw new FormatException()).WaitAsync(Bound));
        var group = new TaskGroup(new TaskGroupOptions { Name = name });
        group.Start(_ => throw new FormatException());
        await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));

        using var executorCapture = new MetricCapture(Meter, ExecutorName, name);
        using var groupCapture = new MetricCapture(Meter, GroupName, name);
        Assert.That(executorCapture.Events("asyncutils.executor.faults"), Is.Empty);
        Assert.That(groupCapture.Events("asyncutils.task_group.faults"), Is.Empty);
        Assert.That(executorCapture.Observe("asyncutils.executor.in_flight"), Is.Zero);
        Assert.That(groupCapture.Observe("asyncutils.task_group.in_flight"), Is.Zero);
    }
}
