using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class LoggingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Test]
    public async Task A_failed_waterfall_batch_is_logged_with_its_exception()
    {
        var logs = new LogCollector();
        HostApplicationBuilder builder = TestHost.Builder(logs);
        builder.Services.AddAsyncUtilsWaterfall<int>("writes", (_, _, _) => throw new InvalidOperationException("store down"))
            .Configure(o => o.MaxBatchSize = 2);
        using IHost host = builder.Build();
        await host.StartAsync();
        Waterfall<int> waterfall = host.Services.GetRequiredKeyedService<Waterfall<int>>("writes");
        waterfall.Put(1);
        waterfall.Put(2);
        await host.StopAsync().WaitAsync(Bound);

        LogEntry entry = logs.Named("WaterfallCallbackFailed").Single();
        Assert.Multiple(() =>
        {
            Assert.That(entry.Category, Is.EqualTo("AsyncUtils.Waterfall"));
            Assert.That(entry.Level, Is.EqualTo(LogLevel.Error));
            Assert.That(entry.EventId.Id, Is.EqualTo(1));
            Assert.That(entry.Exception?.Message, Is.EqualTo("store down"));
            Assert.That(entry.Message, Does.Contain("Waterfall writes").And.Contain("batch of 2 items"));
        });
    }

    [Test]
    public async Task A_posted_loop_fault_is_logged_and_the_loop_goes_on()
    {
        var logs = new LogCollector();
        HostApplicationBuilder builder = TestHost.Builder(logs);
        builder.Services.AddAsyncUtilsThreadedLoop();
        using IHost host = builder.Build();
        await host.StartAsync();
        ThreadedLoop loop = host.Services.GetRequiredService<ThreadedLoop>();

        loop.Post(_ => throw new InvalidOperationException("posted work failed"));
        Assert.That(await loop.WaitAllAsync(Bound, CancellationToken.None), Is.True);
        int after = await loop.RunAsync(_ => 42);
        await host.StopAsync().WaitAsync(Bound);

        LogEntry entry = logs.Named("ThreadedLoopUnhandledException").Single();
        Assert.That(entry.Exception?.Message, Is.EqualTo("posted work failed"));
        Assert.That(after, Is.EqualTo(42));
        Assert.That(logs.Named("StopFailed"), Is.Empty, "the fault went to the log, not to the loop's disposal");
    }

    [Test]
    public async Task A_failing_scheduler_handler_is_logged_and_the_next_payload_is_handled()
    {
        var logs = new LogCollector();
        var time = new FakeTimeProvider();
        var handled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        HostApplicationBuilder builder = TestHost.Builder(logs);
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAsyncUtilsScheduler<string>((_, payload, _) =>
            payload == "bad" ? throw new InvalidOperationException("handler failed") : Complete(handled, payload));
        using IHost host = builder.Build();
        await host.StartAsync();
        PayloadScheduler<string> scheduler = host.Services.GetRequiredService<PayloadScheduler<string>>();
        scheduler.Schedule(TimeSpan.FromSeconds(1), "bad");
        scheduler.Schedule(TimeSpan.FromSeconds(2), "good");
        await time.AdvanceUntilAsync(TimeSpan.FromSeconds(3), handled.Task);

        Assert.That(await handled.Task, Is.EqualTo("good"));
        await host.StopAsync().WaitAsync(Bound);
        Assert.That(logs.Named("SchedulerHandlerFailed").Single().Exception?.Message, Is.EqualTo("handler failed"));
    }

    [Test]
    public async Task A_throwing_logger_never_breaks_a_primitive_or_the_stop()
    {
        var logs = new LogCollector(throws: true);
        var delivered = new ConcurrentQueue<int>();
        var time = new FakeTimeProvider();
        var handled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        HostApplicationBuilder builder = TestHost.Builder(logs);
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAsyncUtilsWaterfall<int>((_, batch, _) =>
        {
            if (batch.Contains(0))
            {
                throw new InvalidOperationException("first batch fails");
            }

            foreach (int item in batch)
            {
                delivered.Enqueue(item);
            }

            return ValueTask.CompletedTask;
        }).Configure(o =>
        {
            o.MaxBatchSize = 2;
            o.MaxConcurrentBatches = 1;
        });
        builder.Services.AddAsyncUtilsThreadedLoop();
        builder.Services.AddAsyncUtilsTaskGroup();
        builder.Services.AddAsyncUtilsScheduler<string>((_, payload, _) =>
            payload == "bad" ? throw new InvalidOperationException("handler failed") : Complete(handled, payload));
        using IHost host = builder.Build();
        await host.StartAsync();

        Waterfall<int> waterfall = host.Services.GetRequiredService<Waterfall<int>>();
        for (int i = 0; i < 6; i++)
        {
            waterfall.Put(i);
        }

        ThreadedLoop loop = host.Services.GetRequiredService<ThreadedLoop>();
        loop.Post(_ => throw new InvalidOperationException("posted work failed"));
        host.Services.GetRequiredService<TaskGroup>().Start(_ => throw new InvalidOperationException("job failed"));
        PayloadScheduler<string> scheduler = host.Services.GetRequiredService<PayloadScheduler<string>>();
        scheduler.Schedule(TimeSpan.FromSeconds(1), "bad");
        scheduler.Schedule(TimeSpan.FromSeconds(2), "good");
        await time.AdvanceUntilAsync(TimeSpan.FromSeconds(3), handled.Task);
        Assert.That(await handled.Task, Is.EqualTo("good"), "the scheduler's consumer survived the logger");
        Assert.That(await loop.RunAsync(_ => 42).WaitAsync(Bound), Is.EqualTo(42), "the loop survived the logger");

        Assert.That(async () => await host.StopAsync().WaitAsync(Bound), Throws.Nothing);
        Assert.That(delivered.Order(), Is.EqualTo(new[] { 2, 3, 4, 5 }), "the batches after the failed one were delivered");
        Assert.That(logs.Calls, Is.GreaterThanOrEqualTo(4), "the logger was called (and threw) for each failure");
    }

    private static ValueTask Complete(TaskCompletionSource<string> source, string payload)
    {
        source.TrySetResult(payload);
        return ValueTask.CompletedTask;
    }
}
