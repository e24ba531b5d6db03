using AsyncUtils;

// Installing the family: `dotnet add package AsyncUtils.All` brings every member package.
var ttl = new TtlLruCache<string, string>(capacity: 16, timeToLive: TimeSpan.FromMinutes(1));
Console.WriteLine($"All: {ttl.GetOrAdd("greeting", "hello from AsyncUtils.All")}");

// TaskCache: three callers of the same key share one call.
int calls = 0;
var lookups = new TaskCache<int, int>();
int[] squares = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => lookups.GetOrAddAsync(7, async (n, ct) =>
{
    Interlocked.Increment(ref calls);
    await Task.Delay(20, ct);
    return n * n;
})));
Console.WriteLine($"TaskCache: 3 callers got {string.Join(",", squares)} from {calls} call");

// Waterfall: ten items put one by one arrive in batches of at most four; the stop flushes the rest.
var batches = new List<int>();
var waterfall = new Waterfall<int>((batch, ct) =>
{
    lock (batches)
    {
        batches.Add(batch.Count);
    }

    return ValueTask.CompletedTask;
}, new WaterfallOptions { MaxBatchSize = 4, MaxWait = TimeSpan.FromMinutes(1), MaxConcurrentBatches = 1 });
waterfall.Start();
for (int i = 0; i < 10; i++)
{
    waterfall.Put(i);
}

await waterfall.StopAsync();
Console.WriteLine($"Waterfall: 10 items in batches of {string.Join("+", batches)}");

// PrioritySemaphore: with the only permit taken, waiters are served lowest priority number first,
// whatever order they arrived in.
var semaphore = new PrioritySemaphore(1);
await semaphore.WaitAsync();
var order = new List<string>();
async Task Waiter(string name, ValueTask turn)
{
    await turn;
    order.Add(name);
    semaphore.Release();
}

Task routine = Waiter("routine", semaphore.WaitAsync(5, CancellationToken.None)); // queued first
Task urgent = Waiter("urgent", semaphore.WaitAsync(-5, CancellationToken.None));  // queued second
semaphore.Release();
await Task.WhenAll(routine, urgent);
Console.WriteLine($"PrioritySemaphore: served {string.Join(" then ", order)}");
