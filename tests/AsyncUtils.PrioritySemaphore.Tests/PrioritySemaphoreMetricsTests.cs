using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class PrioritySemaphoreMetricsTests
{
    private const string Meter = "AsyncUtils.PrioritySemaphore";
    private const string NameTag = "asyncutils.semaphore.name";
    private const string ResultTag = "asyncutils.semaphore.result";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Waiters_free_permits_and_wait_durations_are_published_with_the_semaphores_name()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var time = new FakeTimeProvider();
        var semaphore = new PrioritySemaphore(1, 1, time, name);
        using var cts = new CancellationTokenSource();

        Assert.That(semaphore.Name, Is.EqualTo(name));
        Assert.That(semaphore.WaitAsync().IsCompletedSuccessfully, Is.True, "served at once: not a queued wait");
        Task granted = semaphore.WaitAsync(1, CancellationToken.None).AsTask();
        Task cancelled = semaphore.WaitAsync(2, cts.Token).AsTask();
        Task<bool> timedOut = semaphore.WaitAsync(3, TimeSpan.FromSeconds(2), CancellationToken.None).AsTask();
        IReadOnlyList<MetricsRecorder.Recorded> waiting = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(waiting, "asyncutils.semaphore.waiters"), Is.EqualTo(3));
            Assert.That(MetricsRecorder.Single(waiting, "asyncutils.semaphore.permits.available"), Is.Zero);
        });

        time.Advance(TimeSpan.FromMilliseconds(500));
        await cts.CancelAsync();
        Assert.That(async () => await cancelled, Throws.InstanceOf<OperationCanceledException>());
        time.Advance(TimeSpan.FromMilliseconds(1500));
        Assert.That(await timedOut.WaitAsync(Bound), Is.False);
        time.Advance(TimeSpan.FromSeconds(1));
        semaphore.Release();
        await granted.WaitAsync(Bound);
        semaphore.Release();

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.semaphore.waiters"), Is.Zero);
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.semaphore.permits.available"), Is.EqualTo(1));
            Assert.That(
                recorder.Events.Select(e => (e.Instrument, e.Value, e.Tag(ResultTag))),
                Is.EquivalentTo(new[]
                {
                    ("asyncutils.semaphore.wait.duration", 0.5, (object?)"canceled"),
                    ("asyncutils.semaphore.wait.duration", 2.0, (object?)"timed_out"),
                    ("asyncutils.semaphore.wait.duration", 3.0, (object?)"granted"),
                }));
        });
    }

    [Test]
    public async Task A_blocking_wait_is_timed_like_an_async_one()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var time = new FakeTimeProvider();
        var semaphore = new PrioritySemaphore(0, 1, time, name);

        Task blocked = Task.Factory.StartNew(() => semaphore.Wait(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        SpinWait.SpinUntil(() => semaphore.WaitingCount == 1, Bound);
        time.Advance(TimeSpan.FromSeconds(4));
        semaphore.Release();
        await blocked.WaitAsync(Bound);

        Assert.That(recorder.Events.Select(e => (e.Value, e.Tag(ResultTag))), Is.EqualTo(new[] { (4.0, (object?)"granted") }));
    }

    [Test]
    public async Task A_listener_that_throws_does_not_lose_the_permit_nor_break_the_semaphore()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name) { OnRecorded = _ => throw new InvalidOperationException("observer") };
        var semaphore = new PrioritySemaphore(0, 1, new FakeTimeProvider(), name);
        ValueTask<PrioritySemaphoreReleaser> waiting = semaphore.AcquireAsync(CancellationToken.None);

        semaphore.Release();
        using (await waiting.AsTask().WaitAsync(Bound))
        {
            Assert.That(semaphore.CurrentCount, Is.Zero, "the waiter holds the permit");
        }

        Assert.Multiple(() =>
        {
            Assert.That(semaphore.CurrentCount, Is.EqualTo(1), "and handed it back");
            Assert.That(semaphore.WaitingCount, Is.Zero);
        });
    }

    [Test]
    public async Task A_semaphore_used_before_any_listener_works_and_records_no_wait()
    {
        string name = UniqueName();
        var semaphore = new PrioritySemaphore(0, 1, new FakeTimeProvider(), name);
        Task waiting = semaphore.WaitAsync().AsTask();
        semaphore.Release();
        await waiting.WaitAsync(Bound);

        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.semaphore.permits.available"), Is.Zero);
            Assert.That(recorder.Events, Is.Empty);
        });
    }

    [Test]
    public void A_collected_semaphore_disappears_from_the_measurements()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        CreateObservedAndDrop(recorder, name);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.That(recorder.Observe(), Is.Empty);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CreateObservedAndDrop(MetricsRecorder recorder, string name)
    {
        var semaphore = new PrioritySemaphore(2, 5, TimeProvider.System, name);
        Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.semaphore.permits.available"), Is.EqualTo(2));
        GC.KeepAlive(semaphore);
    }

    private static string UniqueName() => $"semaphore-test-{Guid.NewGuid():N}";
}
