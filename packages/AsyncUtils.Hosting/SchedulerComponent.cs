using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsyncUtils;

/// <summary>
/// A payload scheduler with the host: consumers that hand each due payload to the registered
/// handler begin once the host has started; the stop refuses new payloads, lets the handler calls
/// under way finish (and, with <see cref="PayloadSchedulerHostingOptions.DeliverPendingOnStop"/>,
/// delivers what is still scheduled) within the host's shutdown timeout.
/// </summary>
internal sealed class SchedulerComponent<T> : HostedComponent, IDisposable
{
    private readonly Func<IServiceProvider, T, CancellationToken, ValueTask> _handler;
    private readonly CancellationTokenSource _consumers = new();
    private readonly CancellationTokenSource _handlers = new();
    private PayloadScheduler<T>? _scheduler;
    private PayloadSchedulerHostingOptions? _options;
    private Task[] _running = [];

    public SchedulerComponent(IServiceProvider services, string? name, Func<IServiceProvider, T, CancellationToken, ValueTask> handler)
        : base(services, name, "AsyncUtils.PayloadScheduler")
    {
        _handler = handler;
    }

    public override StopStage Stage => StopStage.Schedulers;

    /// <summary>Disposed by the container, after the host has stopped.</summary>
    public void Dispose()
    {
        _consumers.Dispose();
        _handlers.Dispose();
    }

    public override void OnStarting()
    {
        _options = Services.GetRequiredService<IOptionsMonitor<PayloadSchedulerHostingOptions>>().Get(Name ?? Options.DefaultName);
        _scheduler = Resolve<PayloadScheduler<T>>();
    }

    public override void OnStarted()
    {
        if (_scheduler is not { } scheduler || _options is not { } options)
        {
            return;
        }

        var running = new Task[options.MaxConcurrency];
        for (int i = 0; i < running.Length; i++)
        {
            running[i] = Task.Run(() => ConsumeAsync(scheduler));
        }

        _running = running;
    }

    public override async Task StopAsync(CancellationToken hostStopToken)
    {
        if (_scheduler is not { } scheduler || _options is not { } options)
        {
            return;
        }

#pragma warning disable CA1031 // What goes wrong is logged; the other components still stop.
        try
        {
            scheduler.Complete();
            if (!options.DeliverPendingOnStop)
            {
                // Stop waiting for payloads; a consumer inside the handler finishes that call first.
                await _consumers.CancelAsync().ConfigureAwait(false);
            }

            try
            {
                await Task.WhenAll(_running).WaitAsync(hostStopToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (hostStopToken.IsCancellationRequested)
            {
                await _consumers.CancelAsync().ConfigureAwait(false);
                await _handlers.CancelAsync().ConfigureAwait(false);
                Log.StopTimedOut(Logger, "PayloadScheduler", Name,
                    $"handler calls were still running and {scheduler.Count} payloads were still scheduled; the handlers' token was cancelled.");
                return;
            }

            int pending = scheduler.Count;
            if (pending > 0)
            {
                Log.PendingNotDelivered(Logger, Name, pending);
            }
        }
        catch (Exception exception)
        {
            Log.StopFailed(Logger, "PayloadScheduler", Name, exception);
        }
    }

    private async Task ConsumeAsync(PayloadScheduler<T> scheduler)
    {
        CancellationToken stop = _consumers.Token;
        CancellationToken handlerToken = _handlers.Token;
        try
        {
            await foreach (T payload in scheduler.WithCancellation(stop).ConfigureAwait(false))
            {
                try
                {
                    await _handler(Services, payload, handlerToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_handlers.IsCancellationRequested)
                {
                }
                catch (Exception exception)
                {
                    Log.HandlerFailed(Logger, Name, exception);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception exception)
        {
            Log.StopFailed(Logger, "PayloadScheduler", Name, exception);
        }
#pragma warning restore CA1031
    }
}
