using System.Diagnostics;
using AsyncUtils;
using RateLimitedClientSample;

// A rate-limited API client against a real HTTP server in this process. The server answers 429
// with Retry-After: 1 to every 7th request; the client keeps to 5 requests per second, sends at
// most 2 at a time, lets urgent calls jump the queue, shares identical lookups, and when a 429
// comes back, holds every caller until the Retry-After has passed.

var clock = Stopwatch.StartNew();
var output = new Lock();
void Log(string who, string message)
{
    lock (output)
    {
        Console.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.000}s] {who,-6} {message}");
    }
}

await using FlakyServer server = FlakyServer.Start(tooManyEvery: 7, Log);
Log("main", $"Server listening on {server.BaseAddress}: every 7th request gets 429 with Retry-After: 1.");
using var client = new ApiClient(server.BaseAddress, Log);

// 1. The same lookup from many callers at once: one request.
Log("main", "Ten callers ask for /users/42 at the same moment.");
string[] users = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetAsync("/users/42")));
Log("main", $"All ten got \"{users[0]}\": TaskCache started one call and the other nine joined it.");

// 2. Many lookups at once, kept to our budget, and an urgent call that jumps the queue.
Log("main", "A report asks for 15 items at once. Budget: 5 requests in any second, 2 on the wire at a time.");
Task<string>[] items = [.. Enumerable.Range(1, 15).Select(i => client.GetAsync($"/items/{i}"))];
await Task.Delay(300);
Log("main", $"An urgent alert lookup arrives while {client.Waiting} item lookups wait for a connection slot.");
Task<string> urgent;
using (PriorityContext.Enter(-1)) // more important than the default 0, for this flow only
{
    urgent = client.GetAsync("/alerts/latest");
}

string alert = await urgent;
Log("main", $"Urgent lookup answered (\"{alert}\") with {items.Count(t => !t.IsCompleted)} of the 15 item lookups still waiting: it jumped the queue.");
await Task.WhenAll(items);
Log("main", "All 15 items are in.");

// 3. Repeated lookups: answered from the cache, no request.
int sentBefore = client.Traffic.RequestsSent;
string[] again = await Task.WhenAll(
    client.GetAsync("/users/42"), client.GetAsync("/items/3"), client.GetAsync("/items/7"),
    client.GetAsync("/users/42"), client.GetAsync("/alerts/latest"));
Log("main", $"Five repeated lookups answered from the cache; requests sent meanwhile: {client.Traffic.RequestsSent - sentBefore}.");

TaskCacheStatistics cache = client.CacheStatistics!.Value;
TrafficLog lockout = client.Traffic;
Console.WriteLine();
Console.WriteLine("Summary");
Console.WriteLine($"  Requests sent: {lockout.RequestsSent} (the server counted {server.Requests}).");
Console.WriteLine($"  429s seen: {lockout.TooManyRequests} (the server sent {server.TooManyRequests}); each was retried after the lockout.");
Console.WriteLine($"  Cache: {cache.Misses} lookups went to the server, {cache.Coalesced} joined a call in flight, {cache.Hits} were answered from a finished call.");
Console.WriteLine($"  Lockout held everyone for {lockout.HeldTotal.TotalSeconds:0.0} s in total ({lockout.Lockouts} lockouts); {lockout.Waits} requests waited for one to end.");
Console.WriteLine($"  Done in {clock.Elapsed.TotalSeconds:0.0} s.");
