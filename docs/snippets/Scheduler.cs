using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Docs.Snippets;

internal static class SchedulerSnippets
{
    public static async Task RunAsync()
    {
        var clock = new FakeTimeProvider();

        // <SchedulerBasic>
        using var scheduler = new PayloadScheduler<string>(clock); // TimeProvider.System in production

        scheduler.Schedule(TimeSpan.FromMinutes(10), "send the reminder e-mail");
        ScheduledPayload<string> report = scheduler.Schedule(TimeSpan.FromMinutes(5), "build the report");
        ScheduledPayload<string> cleanup = scheduler.Schedule(TimeSpan.FromMinutes(1), "clean up");
        cleanup.Cancel();                           // O(log n), and freed at once
        report.Reschedule(TimeSpan.FromMinutes(20)); // now due after the reminder
        scheduler.Complete();                       // no more payloads: iteration ends once they are delivered

        var delivered = new List<string>();
        Task consumer = Task.Run(async () =>
        {
            await foreach (string job in scheduler) // each payload when it is due, in due-time order
            {
                delivered.Add(job);
            }
        });
        // </SchedulerBasic>

        for (int i = 0; i < 20 && !consumer.IsCompleted; i++)
        {
            // The fake clock stands for time passing; wait until the consumer is parked on the timer.
            await Task.Delay(5);
            clock.Advance(TimeSpan.FromMinutes(5));
        }

        await consumer.WaitAsync(TimeSpan.FromSeconds(30));
        Check.That(delivered.SequenceEqual(["send the reminder e-mail", "build the report"]), "payloads come in due-time order, cancelled ones never");
    }
}
