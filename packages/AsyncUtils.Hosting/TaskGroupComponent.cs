namespace AsyncUtils;

/// <summary>A task group with the host: awaited (every task finished, every fault logged) when the host stops.</summary>
internal sealed class TaskGroupComponent : HostedComponent
{
    private TaskGroup? _group;

    public TaskGroupComponent(IServiceProvider services, string? name)
        : base(services, name, "AsyncUtils.TaskGroup")
    {
    }

    public override StopStage Stage => StopStage.Workers;

    public override void OnStarting() => _group = Resolve<TaskGroup>();

    public override async Task StopAsync(CancellationToken hostStopToken)
    {
        TaskGroup? group = _group;
        if (group is null)
        {
            return;
        }

        Task exit = group.DisposeAsync().AsTask();
        try
        {
            await exit.WaitAsync(hostStopToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (hostStopToken.IsCancellationRequested && !exit.IsCompleted)
        {
            int running = group.Count;
            group.Cancel();
            Log.StopTimedOut(Logger, "TaskGroup", Name,
                $"{running} tasks were still running; the group's token was cancelled and their faults are logged when they end.");
            _ = LogWhenDoneAsync(group, exit);
            return;
        }
#pragma warning disable CA1031 // The faults are logged one by one below.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        LogFaults(group, exit);
    }

    private async Task LogWhenDoneAsync(TaskGroup group, Task exit)
    {
        await exit.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        LogFaults(group, exit);
    }

    private void LogFaults(TaskGroup group, Task exit)
    {
        IReadOnlyList<Exception> faults = group.Faults;
        foreach (Exception fault in faults)
        {
            Log.TaskFaulted(Logger, Name, fault);
        }

        if (faults.Count == 0 && exit.Exception is { } other)
        {
            Log.StopFailed(Logger, "TaskGroup", Name, other.InnerExceptions.Count == 1 ? other.InnerExceptions[0] : other);
        }
    }
}
