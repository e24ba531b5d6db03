using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.RateLimiting;
using AsyncUtils;

// Every AsyncUtils meter is named "AsyncUtils.<Package>": listen to all of them, as
// `dotnet-counters monitor --counters AsyncUtils.Lru,AsyncUtils.RateLimiter,...` or OpenTelemetry's
// `AddMeter("AsyncUtils.*")` would. Histograms arrive as they are recorded; observable instruments
// (counts the primitives keep anyway) when the listener collects, here at the end.
var lines = new List<string>();
using var listener = new MeterListener
{
    InstrumentPublished = (instrument, l) =>
    {
        if (instrument.Meter.Name.StartsWith("AsyncUtils.", StringComparison.Ordinal))
        {
            l.EnableMeasurementEvents(instrument);
        }
    },
};
listener.SetMeasurementEventCallback<long>((i, v, t, _) => Print(i, v, t));
listener.SetMeasurementEventCallback<int>((i, v, t, _) => Print(i, v, t));
listener.SetMeasurementEventCallback<double>((i, v, t, _) => Print(i, v, t));
listener.Start();

// A bounded LRU that counts hits and misses, so requests are published too.
var users = new LruCache<int, string>(2, new LruCacheOptions<int, string> { Name = "users", TrackStatistics = true });
users[1] = "ada";
users[2] = "grace";
users.TryGetValue(1, out _); // hit
users.TryGetValue(3, out _); // miss
users[3] = "linus";          // evicts 2

// An async cache: three concurrent callers of one key share one call.
var prices = new TaskCache<string, decimal>(new TaskCacheOptions<string, decimal> { Name = "prices", TrackStatistics = true, MaxSize = 100 });
var gate = new TaskCompletionSource<decimal>();
Task<decimal>[] callers = [.. Enumerable.Range(0, 3).Select(_ => prices.GetOrAddAsync("EURUSD", (_, _) => gate.Task))];
gate.SetResult(1.08m);
await Task.WhenAll(callers);
await prices.GetOrAddAsync("EURUSD", (_, _) => gate.Task); // hit

var quotes = new CoroutineCache<string, int>(new CoroutineCacheOptions<string, int> { Name = "quotes", TrackStatistics = true });
await quotes.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(1));
await quotes.GetOrAddAsync("a", static (_, _) => ValueTask.FromResult(1));

// A limiter of 2 permits per 200 ms with a queue: the third request waits for the window.
using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
{
    Windows = { new SlidingLogWindow(2, TimeSpan.FromMilliseconds(200)) },
    QueueLimit = 1,
    Name = "partner-api",
});
limiter.AttemptAcquire().Dispose();
limiter.AttemptAcquire().Dispose();
limiter.AttemptAcquire().Dispose();           // rejected: no room, no waiting
using (RateLimitLease lease = await limiter.AcquireAsync())
{
    // queued about 200 ms: recorded in asyncutils.rate_limiter.wait.duration
}

// A lockout a server asked for (Retry-After: 1 s, capped at 100 ms); one caller waits it out.
var lockout = new Lockout(new LockoutOptions { Name = "partner-429" });
lockout.LockForRetryAfter("1", maxDuration: TimeSpan.FromMilliseconds(100));
await lockout.EnterAsync();

// A priority semaphore with one permit: the second caller queues until the first releases.
var semaphore = new PrioritySemaphore(1, 1, TimeProvider.System, "db");
PrioritySemaphoreReleaser first = await semaphore.AcquireAsync();
Task queued = semaphore.WaitAsync(priority: 0, CancellationToken.None).AsTask();
await Task.Delay(50);
first.Dispose(); // hands the permit to the queued caller, which waited about 50 ms
await queued;
semaphore.Release();

listener.RecordObservableInstruments();
foreach (string line in lines)
{
    Console.WriteLine(line);
}

GC.KeepAlive(users);
GC.KeepAlive(quotes);

void Print<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    where T : struct
{
    var tagText = new List<string>();
    foreach (KeyValuePair<string, object?> tag in tags)
    {
        tagText.Add($"{tag.Key}={tag.Value}");
    }

    string shown = value is double d ? d.ToString("0.000", CultureInfo.InvariantCulture) : value.ToString()!;
    lock (lines)
    {
        lines.Add($"{instrument.Meter.Name,-28} {instrument.Name,-40} {shown,8} {instrument.Unit,-10} {string.Join(", ", tagText)}");
    }
}
