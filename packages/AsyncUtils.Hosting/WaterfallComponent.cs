namespace AsyncUtils;

/// <summary>A waterfall with the host: created and started before the host's services start, stopped (every item delivered) last.</summary>
internal sealed class WaterfallComponent<T> : HostedComponent
{
    private Waterfall<T>? _waterfall;

    public WaterfallComponent(IServiceProvider services, string? name)
        : base(services, name, "AsyncUtils.Waterfall")
    {
    }

    public override StopStage Stage => StopStage.Sinks;

    public override void OnStarting() => _waterfall = Resolve<Waterfall<T>>();

    public override async Task StopAsync(CancellationToken hostStopToken)
    {
        Waterfall<T>? waterfall = _waterfall;
        if (waterfall is null)
        {
            return;
        }

        try
        {
            await waterfall.StopAsync(hostStopToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (hostStopToken.IsCancellationRequested)
        {
            Log.StopTimedOut(Logger, "Waterfall", Name,
                "batches are still being delivered (the stop goes on, and the callbacks' token is cancelled after WaterfallOptions.FinalizeTimeout); items not yet delivered are lost if the process exits now.");
        }
#pragma warning disable CA1031 // A stop that fails is logged; the other components still stop.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            Log.StopFailed(Logger, "Waterfall", Name, exception);
        }
    }
}
