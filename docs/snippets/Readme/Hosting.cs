using AsyncUtils;
using AsyncUtils.Docs.Snippets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ReadmeSnippets;

internal static class ReadmeHosting
{
    public static async Task RunAsync()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        string dbPath = "records.db"; // the sample's SQLite file; an in-memory stand-in here

        // <ReadmeHosting>
        builder.Services.AddSingleton(new RecordStore(dbPath));
        builder.Services.AddHostedService<Producers>();   // takes [FromKeyedServices("records")] Waterfall<Record>

        // One waterfall, started before the producers start and flushed after they stop.
        builder.Services
            .AddAsyncUtilsWaterfall<Record>(
                "records",
                (services, batch, cancellationToken) => services.GetRequiredService<RecordStore>().WriteAsync(batch, cancellationToken))
            .Configure(o =>
            {
                o.MaxBatchSize = 500;
                o.MaxWait = TimeSpan.FromMilliseconds(200);
                o.MaxConcurrentBatches = 1; // SQLite has one writer
                o.FinalizeTimeout = TimeSpan.FromSeconds(15); // below the host's 20 s shutdown timeout
            })
            .FromConfiguration(builder.Configuration.GetSection("AsyncUtils:Records"));
        // </ReadmeHosting>

        using IHost host = builder.Build();
        await host.StartAsync();
        Producers producers = host.Services.GetServices<IHostedService>().OfType<Producers>().Single();
        using (var enough = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (producers.Put < 1_000)
            {
                await Task.Delay(10, enough.Token);
            }
        }

        await host.StopAsync();
        RecordStore store = host.Services.GetRequiredService<RecordStore>();
        Check.That(store.Rows == producers.Put, $"every record put is written ({store.Rows} of {producers.Put})");
    }

    internal sealed record Record(long Sequence);

    /// <summary>The sample's SQLite table, as a counter.</summary>
    internal sealed class RecordStore(string path)
    {
        private long _rows;

        public string Path { get; } = path;

        public long Rows => Interlocked.Read(ref _rows);

        public ValueTask WriteAsync(IReadOnlyList<Record> batch, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _rows, batch.Count);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Puts records until the host stops.</summary>
    internal sealed class Producers([FromKeyedServices("records")] Waterfall<Record> waterfall) : BackgroundService
    {
        private long _put;

        public long Put => Interlocked.Read(ref _put);

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                for (int i = 0; i < 50; i++)
                {
                    waterfall.Put(new Record(Interlocked.Increment(ref _put)));
                }

                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(5), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }
}
