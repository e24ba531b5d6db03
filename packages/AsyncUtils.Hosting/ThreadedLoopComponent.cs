namespace AsyncUtils;

/// <summary>A threaded loop with the host: drained (every piece of work finished), then disposed, when the host stops.</summary>
internal sealed class ThreadedLoopComponent : HostedComponent
{
    private ThreadedLoop? _loop;

    public ThreadedLoopComponent(IServiceProvider services, string? name)
        : base(services, name, "AsyncUtils.ThreadedLoop")
    {
    }

    public override StopStage Stage => StopStage.Workers;

    public override void OnStarting() => _loop = Resolve<ThreadedLoop>();

    public override async Task StopAsync(CancellationToken hostStopToken)
    {
        ThreadedLoop? loop = _loop;
        if (loop is null)
        {
            return;
        }

#pragma warning disable CA1031 // What goes wrong is logged; the other components still stop.
        try
        {
            bool drained;
            try
            {
                drained = await loop.WaitAllAsync(Timeout.InfiniteTimeSpan, hostStopToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (hostStopToken.IsCancellationRequested)
            {
                drained = false;
            }

            if (!drained)
            {
                int outstanding = loop.OutstandingCount;
                loop.CancelAll();
                Log.StopTimedOut(Logger, "ThreadedLoop", Name,
                    $"{outstanding} pieces of work were still running or queued; their tokens were cancelled and the loop is disposed in the background.");
                _ = DisposeInBackgroundAsync(loop);
                return;
            }

            await loop.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.StopFailed(Logger, "ThreadedLoop", Name, exception);
        }
    }

    private async Task DisposeInBackgroundAsync(ThreadedLoop loop)
    {
        try
        {
            await loop.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.StopFailed(Logger, "ThreadedLoop", Name, exception);
        }
#pragma warning restore CA1031
    }
}
