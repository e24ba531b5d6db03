using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class SchedulerTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(90, "AsyncUtils.Scheduler", RunAsync);

    public static async Task RunAsync()
    {
        // A fake clock stands in for time passing, so the tour does not have to wait.
        var clock = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 9, 0, 0, TimeSpan.Zero));
        using var scheduler = new PayloadScheduler<string>(clock);
        Console.WriteLine($"It is {clock.GetUtcNow():HH:mm}. Scheduling four payloads:");
        scheduler.Schedule(TimeSpan.FromMinutes(30), "stand-up");
        ScheduledPayload<string> lunch = scheduler.Schedule(clock.GetUtcNow().AddHours(3), "lunch");
        ScheduledPayload<string> fireDrill = scheduler.Schedule(TimeSpan.FromHours(1), "fire drill");
        scheduler.Schedule(TimeSpan.FromDays(100), "quarterly review (100 days out: longer than one timer can wait)");
        Console.WriteLine($"  {scheduler.Count} pending. The fire drill is called off: Cancel() = {fireDrill.Cancel()}, and again = {fireDrill.Cancel()}.");
        lunch.Reschedule(TimeSpan.FromHours(2));
        Console.WriteLine($"  Lunch moved to {lunch.DueTime:HH:mm}.");

        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        foreach (TimeSpan step in new[] { TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(90), TimeSpan.FromDays(100) })
        {
            Task<bool> next = consumer.MoveNextAsync().AsTask();
            Console.WriteLine($"  A consumer waits; nothing is due, no timer polls. The clock jumps {step}...");
            clock.Advance(step);
            await next;
            Console.WriteLine($"  ...and at {clock.GetUtcNow():MMM dd HH:mm} it receives: {consumer.Current}");
        }

        scheduler.Schedule(clock.GetUtcNow().AddHours(-1), "an overdue reminder");
        await consumer.MoveNextAsync();
        Console.WriteLine($"  A payload scheduled in the past comes at once: {consumer.Current}");
        scheduler.Complete();
        Console.WriteLine($"  After Complete(), with nothing pending, the iteration ends: MoveNextAsync() = {await consumer.MoveNextAsync()}.");
    }
}
