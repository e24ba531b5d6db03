using System.Diagnostics;
using System.Globalization;
using FleetClientSample;

// A fleet of API clients sharing one rate limit and one 429 lockout through Redis. This process
// starts a local API that allows 10 requests in any second (and answers one request with a 429 on
// purpose), then starts itself 3 more times as workers. Each worker has its own Redis connection;
// together they send 24 requests. At the end the API says how many requests it saw in its worst
// second: never more than its limit.
//
//   dotnet run --project samples/AsyncUtils.Samples.FleetClient [-- --redis HOST:PORT]
//
// Without --redis it starts a throwaway redis-server from PATH (Debian: apt-get install redis-server).

if (args is ["worker", var redisArg, var apiArg, var idArg, var requestsArg, var callersArg])
{
    return await Worker.RunAsync(redisArg, new Uri(apiArg), idArg, Parse(requestsArg), Parse(callersArg));
}

const int Workers = 3;
const int RequestsPerWorker = 8;
const int CallersPerWorker = 2;
const int PlannedTooManyAt = 12;

var clock = Stopwatch.StartNew();
var output = new Lock();
void Log(string who, string message)
{
    lock (output)
    {
        Console.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.000}s] {who,-4} {message}");
    }
}

string? redis = args is ["--redis", var given] ? given : null;
using LocalRedis? local = redis is null ? await LocalRedis.StartAsync() : null;
if (redis is null)
{
    if (local is null)
    {
        Console.Error.WriteLine("redis-server was not found on PATH. Install it (Debian: sudo apt-get install -y redis-server) or pass --redis HOST:PORT.");
        return 2;
    }

    redis = local.ConnectionString;
    Log("main", $"Started a throwaway redis-server at {redis}.");
}
else
{
    Log("main", $"Using Redis at {redis}.");
}

await using CountingApi api = CountingApi.Start(Worker.ApiLimit, Worker.ApiWindow, PlannedTooManyAt);
Log("main", $"API at {api.BaseAddress}: at most {Worker.ApiLimit} requests in any {Worker.ApiWindow.TotalSeconds:0} s from anyone (429 over it); request #{PlannedTooManyAt} gets a 429 with Retry-After: 1 on purpose.");
Log("main", $"Starting {Workers} worker processes, {CallersPerWorker} callers each, {RequestsPerWorker} requests each. They share, through Redis, one limit of {Worker.ApiLimit} per {Worker.FleetWindow.TotalSeconds:0.0} s (the API's second plus a margin for the trip to it) and one lockout.");

var workers = new List<Process>();
try
{
    for (int i = 1; i <= Workers; i++)
    {
        workers.Add(StartWorker($"w{i}", redis, api.BaseAddress, RequestsPerWorker, CallersPerWorker, Log));
    }

    // Start together: wait until every worker is connected and ready, then say go.
    foreach (Process worker in workers)
    {
        while (await worker.StandardOutput.ReadLineAsync() is { } line && line != "ready")
        {
        }
    }

    foreach (Process worker in workers)
    {
        await worker.StandardInput.WriteLineAsync("go");
        await worker.StandardInput.FlushAsync();
        int index = workers.IndexOf(worker) + 1;
        _ = Task.Run(async () =>
        {
            while (await worker.StandardOutput.ReadLineAsync() is { } line)
            {
                Log($"w{index}", line);
            }
        });
    }

    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
    foreach (Process worker in workers)
    {
        await worker.WaitForExitAsync(timeout.Token);
        if (worker.ExitCode != 0)
        {
            Log("main", $"A worker failed with exit code {worker.ExitCode}.");
            return 1;
        }
    }
}
finally
{
    foreach (Process worker in workers)
    {
        if (!worker.HasExited)
        {
            worker.Kill(entireProcessTree: true);
        }

        worker.Dispose();
    }
}

ApiReport report = api.Report();
bool kept = report.OverLimit == 0 && report.MostInAnyWindow <= Worker.ApiLimit;
TimeSpan lastDuringLockout = report.ArrivalsDuringLockout.Length == 0 ? TimeSpan.Zero : report.ArrivalsDuringLockout.Max();
bool lockoutHeld = lastDuringLockout < TimeSpan.FromMilliseconds(500);
Console.WriteLine();
Console.WriteLine("Summary");
Console.WriteLine($"  The API received {report.Requests} requests from {Workers} processes; the most in any {Worker.ApiWindow.TotalSeconds:0} s window: {report.MostInAnyWindow} (its limit: {Worker.ApiLimit}).");
Console.WriteLine($"  Requests over the API's limit: {report.OverLimit}.");
Console.WriteLine(kept
    ? "  The API never saw more than its limit."
    : "  The API saw more than its limit!");
Console.WriteLine(report.ArrivalsDuringLockout.Length == 0
    ? "  The planned 429 locked the whole fleet out: no request arrived during its Retry-After."
    : $"  The planned 429 locked the whole fleet out: {report.ArrivalsDuringLockout.Length} request(s) arrived during its Retry-After, "
        + $"all within {lastDuringLockout.TotalMilliseconds:0} ms of it (sent before the lockout reached their process){(lockoutHeld ? "; none later." : ": too late!")}");
Console.WriteLine($"  429s sent by the API: {report.TooMany}. Done in {clock.Elapsed.TotalSeconds:0.0} s.");
return kept && lockoutHeld ? 0 : 1;

static int Parse(string text) => int.Parse(text, CultureInfo.InvariantCulture);

static Process StartWorker(string id, string redis, Uri api, int requests, int callers, Action<string, string> log)
{
    // Start this same program again in worker mode: through the dotnet host when it runs as
    // `dotnet FleetClient.dll`, or through its own executable.
    string host = Environment.ProcessPath!;
    var info = new ProcessStartInfo(host)
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        UseShellExecute = false,
    };
    if (Path.GetFileNameWithoutExtension(host) == "dotnet")
    {
        info.ArgumentList.Add(typeof(Worker).Assembly.Location);
    }

    foreach (string arg in new[] { "worker", redis, api.ToString(), id, requests.ToString(CultureInfo.InvariantCulture), callers.ToString(CultureInfo.InvariantCulture) })
    {
        info.ArgumentList.Add(arg);
    }

    Process process = Process.Start(info)!;
    log("main", $"Worker {id} started (process {process.Id}).");
    return process;
}
