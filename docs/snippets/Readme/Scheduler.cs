using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeScheduler
{
    public static async Task RunAsync()
    {
        // The examples consume until the host stops; here it stops after a moment, before anything is due.
        Check.That(await Stopped(Root) && RootSent.Count == 0, "nothing is due in the first moment; the loop ends when the host stops");
        Check.That(await Stopped(Package), "the loop ends when the host stops");
        await Join();
    }

    private static async Task<bool> Stopped(Func<CancellationToken, Task> example)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        try
        {
            await example(stop.Token);
            return stop.IsCancellationRequested;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return true;
        }
    }

    private static List<Reminder> RootSent { get; } = [];

    private static async Task Root(CancellationToken stoppingToken)
    {
        var reminder = new Reminder("stand-up");
        Task SendAsync(Reminder r)
        {
            RootSent.Add(r);
            return Task.CompletedTask;
        }

        // <RootScheduler>
        using var reminders = new PayloadScheduler<Reminder>();        // or new(timeProvider)
        ScheduledPayload<Reminder> h = reminders.Schedule(TimeSpan.FromMinutes(15), reminder);
        h.Reschedule(TimeSpan.FromMinutes(5));                         // or h.Cancel()
        await foreach (Reminder due in reminders.WithCancellation(stoppingToken))
            await SendAsync(due);                                      // in due order, each to one consumer
        // </RootScheduler>
    }

    private static async Task Package(CancellationToken stoppingToken)
    {
        var reminder = new Reminder("stand-up");
        var newYear = new Reminder("happy new year");
        Task SendAsync(Reminder r) => Task.CompletedTask;

        // <ReadmeScheduler>
        using var reminders = new PayloadScheduler<Reminder>();   // or new(timeProvider) in tests

        ScheduledPayload<Reminder> handle = reminders.Schedule(TimeSpan.FromMinutes(15), reminder);
        reminders.Schedule(new DateTimeOffset(2030, 1, 1, 9, 0, 0, TimeSpan.Zero), newYear);
        handle.Reschedule(TimeSpan.FromMinutes(5));   // or handle.Cancel(), as often as you like

        // Any number of consumers; each payload goes to exactly one of them, when it is due.
        await foreach (Reminder due in reminders.WithCancellation(stoppingToken))
        {
            await SendAsync(due);
        }
        // </ReadmeScheduler>
    }

    private static async Task Join()
    {
        using var reminders = new PayloadScheduler<Reminder>();
        reminders.Schedule(TimeSpan.Zero, new Reminder("now"));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        CancellationToken stoppingToken = stop.Token;
        Task consumer = Task.Run(async () =>
        {
            await using IAsyncEnumerator<Reminder> e = reminders.GetAsyncEnumerator(stoppingToken);
            await e.MoveNextAsync();
        });

        // <ReadmeSchedulerJoin>
        await reminders.JoinAsync(stoppingToken);
        // </ReadmeSchedulerJoin>

        await consumer;
        Check.That(reminders.Count == 0, "JoinAsync returns once the pending reminder was delivered");
    }

    private sealed record Reminder(string Text);
}
