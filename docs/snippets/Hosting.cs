using System.Threading.RateLimiting;
using AsyncUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsyncUtils.Docs.Snippets;

internal static class HostingSnippets
{
    public static async Task RunAsync()
    {
        CancellationToken ct = CancellationToken.None;

        // <HostingWorker>
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<EventStore>();     // stands in for a database
        builder.Services.AddHostedService<Producer>();   // puts into [FromKeyedServices("events")] Waterfall<string>

        // A waterfall that lives with the host: started before the producer, flushed after it stopped.
        builder.Services
            .AddAsyncUtilsWaterfall<string>(
                "events",
                (services, batch, cancellationToken) => services.GetRequiredService<EventStore>().WriteAsync(batch, cancellationToken))
            .Configure(o =>
            {
                o.MaxBatchSize = 100;
                o.MaxWait = TimeSpan.FromMilliseconds(50);
            });

        // A keyed singleton limiter: at most 100 events a second.
        builder.Services
            .AddAsyncUtilsSlidingLogRateLimiter("events")
            .Configure(o =>
            {
                o.Windows.Add(new SlidingLogWindow(100, TimeSpan.FromSeconds(1)));
                o.QueueLimit = 10;
            });

        using IHost host = builder.Build();
        await host.StartAsync(ct);
        // </HostingWorker>

        Producer producer = host.Services.GetServices<IHostedService>().OfType<Producer>().Single();
        EventStore store = host.Services.GetRequiredService<EventStore>();
        using (var enough = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (producer.Put < 150) // past the first second's 100: the limiter has made the producer wait
            {
                await Task.Delay(20, enough.Token);
            }
        }

        // <HostingStop>
        // ... the application runs; on SIGTERM, Ctrl+C or StopApplication():
        await host.StopAsync(ct); // the producer stops first, then the waterfall delivers every event
        // </HostingStop>

        Check.That(producer.Put > 0 && store.Written == producer.Put, $"every event put is written ({store.Written} of {producer.Put})");
        Check.That(store.Contains("producer stopped"), "an event put during the producer's own stop is still delivered");
    }

    /// <summary>Where the waterfall's batches go: a list here, a table in a real worker.</summary>
    private sealed class EventStore
    {
        private readonly List<string> _events = [];

        public int Written
        {
            get
            {
                lock (_events)
                {
                    return _events.Count;
                }
            }
        }

        public bool Contains(string item)
        {
            lock (_events)
            {
                return _events.Contains(item);
            }
        }

        public ValueTask WriteAsync(IReadOnlyList<string> batch, CancellationToken cancellationToken)
        {
            lock (_events)
            {
                _events.AddRange(batch);
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Puts an event whenever the limiter allows, until the host stops, and one more while stopping.</summary>
    private sealed class Producer(
        [FromKeyedServices("events")] Waterfall<string> events,
        [FromKeyedServices("events")] SlidingLogRateLimiter limiter) : BackgroundService
    {
        private int _put;

        public int Put => Volatile.Read(ref _put);

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken);
            events.Put("producer stopped");
            Interlocked.Increment(ref _put);
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield(); // let the host go on starting
            for (int i = 0; !stoppingToken.IsCancellationRequested; i++)
            {
                try
                {
                    using RateLimitLease lease = await limiter.AcquireAsync(1, stoppingToken);
                    if (!lease.IsAcquired)
                    {
                        break; // the queue is full: cannot happen with a single producer
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                events.Put($"event {i}");
                Interlocked.Increment(ref _put);
                if (i % 10 == 9)
                {
                    await Task.Yield();
                }
            }
        }
    }
}
