using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncUtils;

/// <summary>
/// A registered primitive that lives with the host: resolved (created and started) before the
/// host's services start, stopped after they have stopped. <see cref="AsyncUtilsHostedService"/>
/// drives every one of them.
/// </summary>
internal abstract class HostedComponent
{
    protected HostedComponent(IServiceProvider services, string? name, string category)
    {
        Services = services;
        Name = name;
        Logger = CreateLogger(services, category);
    }

    /// <summary>The stop order: lower stages stop first, components of one stage together.</summary>
    public abstract StopStage Stage { get; }

    protected IServiceProvider Services { get; }

    protected string? Name { get; }

    protected ILogger Logger { get; }

    /// <summary>Runs in the host's starting phase, before any hosted service's StartAsync.</summary>
    public abstract void OnStarting();

    /// <summary>Runs in the host's started phase, after every hosted service's StartAsync.</summary>
    public virtual void OnStarted()
    {
    }

    /// <summary>
    /// Runs in the host's stopped phase, after every hosted service's StopAsync. Returns once the
    /// component has stopped or, at the latest, soon after <paramref name="hostStopToken"/> (the
    /// host's shutdown timeout) is cancelled; never throws: what goes wrong is logged.
    /// </summary>
    public abstract Task StopAsync(CancellationToken hostStopToken);

    protected T Resolve<T>()
        where T : notnull
        => Name is null ? Services.GetRequiredService<T>() : Services.GetRequiredKeyedService<T>(Name);

    internal static ILogger CreateLogger(IServiceProvider services, string category)
    {
        ILoggerFactory? factory = services.GetService<ILoggerFactory>();
        return factory is null ? NullLogger.Instance : factory.CreateLogger(category);
    }
}
