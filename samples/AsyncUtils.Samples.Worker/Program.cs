using System.Globalization;
using AsyncUtils;
using AsyncUtils.Samples.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// A worker service on the .NET Generic Host. Producers (a BackgroundService) put records one at
// a time; a Waterfall registered with AsyncUtils.Hosting hands them to SQLite in batches, one
// transaction per batch. The host owns SIGTERM and Ctrl+C: on either, the producers stop first,
// then the waterfall delivers every record it still holds (AsyncUtils.Hosting stops it after all
// hosted services, within the host's shutdown timeout), then the container closes the database.
// One more producer fetches items from a small HTTP API (started in this process) through an
// IHttpClientFactory client with the AsyncUtils.Http handlers: a SlidingLogRateLimiter (20 requests
// a second) and a Lockout that a 429's Retry-After locks. A MeterListener on the AsyncUtils meters
// counts the waterfall's items and the limiter's leases.
// At the end the program prints how many records were put and how many rows this run wrote, the
// API's request count and a one-line metrics summary.
//
//   dotnet run --project samples/AsyncUtils.Samples.Worker -- --db records.db [--seconds N]
//
// Settings come from the command line or environment (AsyncUtils__Records__MaxBatchSize=...).

using var metrics = new SampleMetrics(); // before the primitives exist, so it sees every item
await using ApiServer server = ApiServer.Start();

HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
string dbPath = builder.Configuration["db"] ?? Path.Combine(Path.GetTempPath(), $"asyncutils-worker-{Environment.ProcessId}.db");
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);

// <WorkerRegistration>
builder.Services.AddSingleton(new RecordStore(dbPath));
builder.Services.AddSingleton<ProducerStats>();
builder.Services.AddHostedService<Producers>();
builder.Services.AddSingleton<ApiStats>();
builder.Services.AddHostedService<ApiFetcher>();

// The API client: every request takes a permit from the limiter, then waits out any lockout; a
// 429 locks the lockout for its Retry-After, for every request of the client. The factories run
// once per container, and the container disposes what they create. The names tag the metrics.
builder.Services.AddHttpClient("api", c => c.BaseAddress = server.BaseAddress)
    .AddRateLimiter(_ => new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
    {
        Windows = { new SlidingLogWindow(20, TimeSpan.FromSeconds(1)) },
        QueueLimit = 10,
        Name = "api",
    }))
    .AddLockout(_ => new Lockout(new LockoutOptions { Name = "api" }), new LockoutHandlerOptions { MaxLockout = TimeSpan.FromSeconds(5) });

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
// </WorkerRegistration>

using IHost host = builder.Build();
ProducerStats stats = host.Services.GetRequiredService<ProducerStats>();
ApiStats api = host.Services.GetRequiredService<ApiStats>();
RecordStore store = host.Services.GetRequiredService<RecordStore>();
if (double.TryParse(builder.Configuration["seconds"], NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
{
    // The in-app trigger: the same stop a signal starts.
    IHostApplicationLifetime lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
    _ = Task.Delay(TimeSpan.FromSeconds(seconds)).ContinueWith(_ => lifetime.StopApplication(), TaskScheduler.Default);
}

// Read the metrics once every hosted service and the waterfall have stopped, before RunAsync
// disposes the host (and with it the limiter, whose counters are observed only while it lives).
string metricsLine = "";
host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(() => metricsLine = metrics.Summary());

await host.RunAsync();

long rows = store.CountRows();
Console.WriteLine($"put {stats.Put}");
Console.WriteLine($"rows {rows}");
Console.WriteLine($"api requests {server.Requests}");
Console.WriteLine($"api fetched {api.FetchedCount} (sent {api.SentCount}, 429 {api.TooManyCount})");
Console.WriteLine(metricsLine);
Console.WriteLine(rows == stats.Put ? "every record put was written" : "RECORDS WERE LOST");
return rows == stats.Put ? 0 : 1;
