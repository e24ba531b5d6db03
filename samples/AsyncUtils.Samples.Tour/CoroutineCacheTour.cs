using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class CoroutineCacheTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(20, "AsyncUtils.CoroutineCache", RunAsync);

    public static async Task RunAsync()
    {
        // A fake clock stands in for time passing, so the tour does not have to wait.
        var clock = new FakeTimeProvider();
        var weather = new CoroutineCache<string, string>(new CoroutineCacheOptions<string, string>
        {
            TimeToLive = TimeSpan.FromMinutes(10),
            TimeProvider = clock,
            TrackStatistics = true,
        });
        int calls = 0;
        var serverAnswers = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string> FetchAsync(string city, CancellationToken cancellationToken)
        {
            calls++;
            await serverAnswers.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return $"sunny in {city}";
        }

        Console.WriteLine("A CoroutineCache keeps weather reports 10 minutes after they arrive.");
        Console.WriteLine("Three callers ask for Oslo at the same moment; the third will give up early.");
        using var impatient = new CancellationTokenSource();
        Task<string> first = weather.GetOrAddAsync("Oslo", FetchAsync).AsTask();
        Task<string> second = weather.GetOrAddAsync("Oslo", FetchAsync).AsTask();
        Task<string> third = weather.GetOrAddAsync("Oslo", FetchAsync, impatient.Token).AsTask();
        Console.WriteLine($"  The server was called {calls} time: the other two joined the call in flight.");

        await impatient.CancelAsync();
        try
        {
            await third;
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine("  The third caller cancelled its own wait; the shared call goes on for the others.");
        }

        serverAnswers.SetResult();
        Console.WriteLine($"  The first two got '{await first}' and '{await second}'.");
        Console.WriteLine($"  Asking again now is a hit, answered synchronously without allocating: '{await weather.GetOrAddAsync("Oslo", FetchAsync)}'.");

        clock.Advance(TimeSpan.FromMinutes(10));
        Console.WriteLine($"  Ten minutes later the report has expired, so the server is called again: '{await weather.GetOrAddAsync("Oslo", FetchAsync)}' (calls: {calls}).");
        Console.WriteLine($"  Counters: {weather.GetStatistics()}");

        // The opt-in: cancel the shared call itself once every caller waiting on it has given up.
        var reports = new CoroutineCache<string, string>(new CoroutineCacheOptions<string, string> { CancelWhenAllWaitersCancel = true });
        CancellationToken sharedToken = default;
        using var alice = new CancellationTokenSource();
        using var bob = new CancellationTokenSource();
        ValueTask<string> SlowReportAsync(string name, CancellationToken ct)
        {
            sharedToken = ct;
            return new ValueTask<string>(Task.Delay(Timeout.InfiniteTimeSpan, ct).ContinueWith(_ => name, TaskScheduler.Default));
        }

        Console.WriteLine();
        Console.WriteLine("With CancelWhenAllWaitersCancel, Alice and Bob wait on one slow report.");
        Task<string> aliceWaits = reports.GetOrAddAsync("q3", SlowReportAsync, alice.Token).AsTask();
        Task<string> bobWaits = reports.GetOrAddAsync("q3", SlowReportAsync, bob.Token).AsTask();
        await alice.CancelAsync();
        await Task.WhenAny(aliceWaits);
        Console.WriteLine($"  Alice gave up; the report is still being made for Bob (cancelled: {sharedToken.IsCancellationRequested}).");
        await bob.CancelAsync();
        await Task.WhenAny(bobWaits);
        Console.WriteLine($"  Bob gave up too: nobody is waiting, so the report itself was cancelled (cancelled: {sharedToken.IsCancellationRequested}).");

        // The decorator of the Python library async-utils: a cached function with the same signature, keyed by a selector.
        var byCity = new CoroutineCache<string, string>();
        Func<string, string, CancellationToken, ValueTask<string>> forecast = byCity.Wrap(
            static (string apiKey, string city, CancellationToken _) => ValueTask.FromResult($"forecast for {city}"),
            keySelector: static (_, city) => city);
        Console.WriteLine();
        Console.WriteLine("Wrap turns a function into a cached one; here the API key is left out of the cache key:");
        Console.WriteLine($"  '{await forecast("key-1", "Rome", CancellationToken.None)}', then with another API key '{await forecast("key-2", "Rome", CancellationToken.None)}' from the cache.");
    }
}
