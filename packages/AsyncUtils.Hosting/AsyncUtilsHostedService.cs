using Microsoft.Extensions.Hosting;

namespace AsyncUtils;

/// <summary>
/// The one hosted service behind every <c>AddAsyncUtils...</c> registration that lives with the
/// host. It uses the host's lifecycle phases, so its ordering does not depend on where it was
/// registered: the primitives are created and started in the starting phase (before any hosted
/// service's <c>StartAsync</c>, so producers find them running), scheduler consumers begin in the
/// started phase, and everything is stopped in the stopped phase (after every hosted service's
/// <c>StopAsync</c>, so producers have stopped), by <see cref="StopStage"/>, within the host's
/// shutdown timeout (the token the host passes).
/// </summary>
internal sealed class AsyncUtilsHostedService : IHostedLifecycleService
{
    private static readonly StopStage[] StopOrder = [StopStage.Schedulers, StopStage.Workers, StopStage.Sinks];

    private readonly HostedComponent[] _components;
    private Task? _stopped;

    public AsyncUtilsHostedService(IEnumerable<HostedComponent> components)
    {
        _components = [.. components];
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        foreach (HostedComponent component in _components)
        {
            component.OnStarting();
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        foreach (HostedComponent component in _components)
        {
            component.OnStarted();
        }

        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops everything once; a second stop of the host waits for the first.</summary>
    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        lock (_components)
        {
            return _stopped ??= StopAllAsync(cancellationToken);
        }
    }

    private async Task StopAllAsync(CancellationToken cancellationToken)
    {
        foreach (StopStage stage in StopOrder)
        {
            var stops = new List<Task>();
            foreach (HostedComponent component in _components)
            {
                if (component.Stage == stage)
                {
                    stops.Add(component.StopAsync(cancellationToken));
                }
            }

            await Task.WhenAll(stops).ConfigureAwait(false);
        }
    }
}
