using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class LifecycleTests
{
    /// <summary>How long a test waits for something that must happen before it fails.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Test]
    public async Task Every_item_put_by_a_hosted_producer_is_delivered_when_the_host_stops_whatever_the_registration_order()
    {
        var delivered = new ConcurrentQueue<int>();
        HostApplicationBuilder builder = TestHost.Builder();

        // The producer is registered first, so the host stops it last: a waterfall stopped by an
        // ordinary hosted service registered after it would refuse the producer's final items.
        builder.Services.AddSingleton<Producer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Producer>());
        builder.Services.AddAsyncUtilsWaterfall<int>(async (_, batch, ct) =>
        {
            await Task.Yield();
            foreach (int item in batch)
            {
                delivered.Enqueue(item);
            }
        }).Configure(o =>
        {
            o.MaxBatchSize = 64;
            o.MaxWait = TimeSpan.FromHours(1); // only full batches and the stop send anything
        });
        using IHost host = builder.Build();
        Producer producer = host.Services.GetRequiredService<Producer>();

        await host.StartAsync();
        await producer.Running.Task.WaitAsync(Bound);
        await host.StopAsync().WaitAsync(Bound);

        Assert.That(producer.Failures, Is.Zero, "every Put was accepted, the last ones during the producer's own stop");
        Assert.That(producer.Put, Is.GreaterThan(100));
        Assert.That(delivered.Order(), Is.EqualTo(Enumerable.Range(0, producer.Put)), "every item exactly once");
    }

    [Test]
    public async Task A_stop_that_outlasts_the_shutdown_timeout_is_logged_and_does_not_hang_the_host()
    {
        var logs = new LogCollector();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        HostApplicationBuilder builder = TestHost.Builder(logs, shutdownTimeout: TimeSpan.FromMilliseconds(300));
        builder.Services.AddAsyncUtilsWaterfall<int>("stuck", async (_, _, _) => await release.Task); // ignores its token
        using IHost host = builder.Build();
        await host.StartAsync();
        host.Services.GetRequiredKeyedService<Waterfall<int>>("stuck").Put(1);

        var clock = Stopwatch.StartNew();
        await host.StopAsync().WaitAsync(Bound);
        clock.Stop();

        IReadOnlyList<LogEntry> timedOut = logs.Named("StopTimedOut");
        Assert.Multiple(() =>
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the host's stop returned near its shutdown timeout");
            Assert.That(timedOut, Has.Count.EqualTo(1));
            Assert.That(timedOut[0].Level, Is.EqualTo(LogLevel.Error));
            Assert.That(timedOut[0].Message, Does.Contain("Waterfall stuck"));
        });
        release.SetResult();
    }

    [Test]
    public async Task A_threaded_loop_is_drained_then_disposed_when_the_host_stops()
    {
        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddAsyncUtilsThreadedLoop();
        using IHost host = builder.Build();
        await host.StartAsync();
        ThreadedLoop loop = host.Services.GetRequiredService<ThreadedLoop>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int finished = 0;
        for (int i = 0; i < 3; i++)
        {
            loop.Post(async _ =>
            {
                await gate.Task;
                Interlocked.Increment(ref finished);
            });
        }

        Task stop = host.StopAsync();
        await Task.Delay(50);
        Assert.That(stop.IsCompleted, Is.False, "the stop waits for the loop's work");
        gate.SetResult();
        await stop.WaitAsync(Bound);

        Assert.That(finished, Is.EqualTo(3));
        Assert.That(() => loop.Post(_ => { }), Throws.InstanceOf<ObjectDisposedException>(), "the loop was disposed");
    }

    [Test]
    public async Task Loop_work_that_outlasts_the_shutdown_timeout_is_cancelled_and_logged()
    {
        var logs = new LogCollector();
        HostApplicationBuilder builder = TestHost.Builder(logs, shutdownTimeout: TimeSpan.FromMilliseconds(300));
        builder.Services.AddAsyncUtilsThreadedLoop("slow");
        using IHost host = builder.Build();
        await host.StartAsync();
        ThreadedLoop loop = host.Services.GetRequiredKeyedService<ThreadedLoop>("slow");
        Task work = loop.Schedule(ct => Task.Delay(Timeout.Infinite, ct));

        await host.StopAsync().WaitAsync(Bound);

        Assert.That(logs.Named("StopTimedOut").Single().Message, Does.Contain("ThreadedLoop slow"));
        Assert.That(async () => await work.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>(), "its token was cancelled");
    }

    [Test]
    public async Task A_task_group_is_awaited_when_the_host_stops_and_its_faults_are_logged()
    {
        var logs = new LogCollector();
        HostApplicationBuilder builder = TestHost.Builder(logs);
        builder.Services.AddAsyncUtilsTaskGroup("jobs");
        using IHost host = builder.Build();
        await host.StartAsync();
        TaskGroup group = host.Services.GetRequiredKeyedService<TaskGroup>("jobs");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool finished = false;
        group.Start(async _ =>
        {
            await gate.Task;
            finished = true;
        });
        group.Start(async _ =>
        {
            await gate.Task;
            throw new InvalidOperationException("job failed");
        });

        Task stop = host.StopAsync();
        await Task.Delay(50);
        Assert.That(stop.IsCompleted, Is.False, "the stop waits for the group");
        gate.SetResult();
        await stop.WaitAsync(Bound);

        Assert.That(finished, Is.True);
        LogEntry fault = logs.Named("TaskGroupTaskFaulted").Single();
        Assert.That(fault.Exception?.Message, Is.EqualTo("job failed"));
        Assert.That(fault.Message, Does.Contain("TaskGroup jobs"));
    }

    [Test]
    public async Task Group_tasks_that_outlast_the_shutdown_timeout_are_cancelled_and_logged()
    {
        var logs = new LogCollector();
        HostApplicationBuilder builder = TestHost.Builder(logs, shutdownTimeout: TimeSpan.FromMilliseconds(300));
        builder.Services.AddAsyncUtilsTaskGroup("forever");
        using IHost host = builder.Build();
        await host.StartAsync();
        Task<int> work = host.Services.GetRequiredKeyedService<TaskGroup>("forever").Start(async ct =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        });

        await host.StopAsync().WaitAsync(Bound);

        Assert.That(logs.Named("StopTimedOut").Single().Message, Does.Contain("TaskGroup forever").And.Contain("1 tasks"));
        Assert.That(async () => await work.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>(), "the group's token was cancelled");
    }

    [Test]
    public async Task Scheduler_handles_due_payloads_and_logs_what_was_not_yet_due_at_the_stop()
    {
        var logs = new LogCollector();
        var time = new FakeTimeProvider();
        var handled = new ConcurrentQueue<string>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        HostApplicationBuilder builder = TestHost.Builder(logs);
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAsyncUtilsScheduler<string>((_, payload, _) =>
        {
            handled.Enqueue(payload);
            first.TrySetResult();
            return ValueTask.CompletedTask;
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        PayloadScheduler<string> scheduler = host.Services.GetRequiredService<PayloadScheduler<string>>();

        scheduler.Schedule(TimeSpan.FromMinutes(1), "soon");
        scheduler.Schedule(TimeSpan.FromDays(1), "later");
        await time.AdvanceUntilAsync(TimeSpan.FromMinutes(2), first.Task);
        await host.StopAsync().WaitAsync(Bound);

        Assert.That(handled, Is.EqualTo(new[] { "soon" }));
        LogEntry pending = logs.Named("SchedulerPendingNotDelivered").Single();
        Assert.That(pending.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(pending.Message, Does.Contain("1 scheduled payloads"));
        Assert.That(() => scheduler.Schedule(TimeSpan.Zero, "after"), Throws.InvalidOperationException, "a stopped scheduler refuses payloads");
    }

    [Test]
    public async Task Scheduler_with_DeliverPendingOnStop_delivers_what_falls_due_during_the_stop()
    {
        var time = new FakeTimeProvider();
        var handled = new ConcurrentQueue<string>();
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAsyncUtilsScheduler<string>("retries", (_, payload, _) =>
        {
            handled.Enqueue(payload);
            delivered.TrySetResult();
            return ValueTask.CompletedTask;
        }).Configure(o => o.DeliverPendingOnStop = true);
        using IHost host = builder.Build();
        await host.StartAsync();
        host.Services.GetRequiredKeyedService<PayloadScheduler<string>>("retries").Schedule(TimeSpan.FromSeconds(5), "retry");

        Task stop = host.StopAsync();
        await Task.Delay(50);
        Assert.That(stop.IsCompleted, Is.False, "the stop waits for the pending payload");
        await time.AdvanceUntilAsync(TimeSpan.FromSeconds(5), delivered.Task);
        await stop.WaitAsync(Bound);

        Assert.That(handled, Is.EqualTo(new[] { "retry" }));
    }

    [Test]
    public async Task Producers_that_stop_after_the_schedulers_loops_and_groups_still_reach_the_waterfall()
    {
        // A scheduler's handler and a task group's work both put into the waterfall during the
        // stop: the waterfall is stopped last, so nothing is refused.
        var time = new FakeTimeProvider();
        var delivered = new ConcurrentQueue<string>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        HostApplicationBuilder builder = TestHost.Builder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddAsyncUtilsTaskGroup();
        builder.Services.AddAsyncUtilsScheduler<string>((sp, payload, _) =>
        {
            sp.GetRequiredService<Waterfall<string>>().Put(payload);
            handled.TrySetResult();
            return ValueTask.CompletedTask;
        }).Configure(o => o.DeliverPendingOnStop = true);
        builder.Services.AddAsyncUtilsWaterfall<string>((_, batch, _) =>
        {
            foreach (string item in batch)
            {
                delivered.Enqueue(item);
            }

            return ValueTask.CompletedTask;
        }).Configure(o => o.MaxWait = TimeSpan.FromHours(1));
        using IHost host = builder.Build();
        await host.StartAsync();
        host.Services.GetRequiredService<PayloadScheduler<string>>().Schedule(TimeSpan.FromSeconds(1), "from the scheduler");
        host.Services.GetRequiredService<TaskGroup>().Start(async _ =>
        {
            await gate.Task;
            host.Services.GetRequiredService<Waterfall<string>>().Put("from the group");
        });

        Task stop = host.StopAsync();
        await time.AdvanceUntilAsync(TimeSpan.FromSeconds(1), handled.Task);
        gate.SetResult();
        await stop.WaitAsync(Bound);

        Assert.That(delivered.Order(StringComparer.Ordinal), Is.EqualTo(new[] { "from the group", "from the scheduler" }));
    }

    /// <summary>Puts numbered items until it is stopped, then a few more during its own stop.</summary>
    private sealed class Producer(Waterfall<int> waterfall) : BackgroundService
    {
        private int _next;

        public TaskCompletionSource Running { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Put => _next;

        public int Failures { get; private set; }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken);
            for (int i = 0; i < 10; i++)
            {
                PutOne();
            }
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                for (int i = 0; i < 50; i++)
                {
                    PutOne();
                }

                if (_next >= 200)
                {
                    Running.TrySetResult();
                }

                await Task.Yield();
            }
        }

        private void PutOne()
        {
            if (waterfall.TryPut(_next))
            {
                _next++;
            }
            else
            {
                Failures++;
            }
        }
    }
}
