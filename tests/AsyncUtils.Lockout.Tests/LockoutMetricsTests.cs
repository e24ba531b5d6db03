using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class LockoutMetricsTests
{
    private const string Meter = "AsyncUtils.Lockout";
    private const string NameTag = "asyncutils.lockout.name";

    [TestCase(false)]
    [TestCase(true)]
    public async Task State_waits_and_waiters_are_published_with_the_lockouts_name(bool fifo)
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Name = name, TimeProvider = time, Fifo = fifo });
        using var cts = new CancellationTokenSource();

        await lockout.EnterAsync(); // open: no wait
        AssertObserved(recorder, locked: 0, waits: 0, waiters: 0);

        lockout.LockFor(TimeSpan.FromSeconds(1));
        Task first = lockout.EnterAsync().AsTask();
        Task second = lockout.EnterAsync(cts.Token).AsTask();
        AssertObserved(recorder, locked: 1, waits: 2, waiters: 2);

        await cts.CancelAsync();
        Assert.That(async () => await second, Throws.InstanceOf<OperationCanceledException>());
        AssertObserved(recorder, locked: 1, waits: 2, waiters: 1);

        time.Advance(TimeSpan.FromSeconds(1));
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        await lockout.EnterAsync();
        AssertObserved(recorder, locked: 0, waits: 2, waiters: 0);
        Assert.That(recorder.Events, Is.Empty, "every lockout instrument is observable");
    }

    [Test]
    public async Task A_lockout_used_before_any_listener_works_and_a_later_listener_sees_its_waits()
    {
        string name = UniqueName();
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Name = name, TimeProvider = time });
        lockout.LockFor(TimeSpan.FromSeconds(1));
        Task waiting = lockout.EnterAsync().AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        AssertObserved(recorder, locked: 0, waits: 1, waiters: 0);
    }

    [Test]
    public async Task A_listener_that_throws_while_observing_does_not_touch_the_lockout()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name) { OnRecorded = _ => throw new InvalidOperationException("observer") };
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Name = name, TimeProvider = time });
        lockout.LockFor(TimeSpan.FromSeconds(1));
        Task waiting = lockout.EnterAsync().AsTask();

        Assert.That(() => recorder.Observe(), Throws.Exception);
        time.Advance(TimeSpan.FromSeconds(1));
        await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(lockout.IsLocked, Is.False);
        Assert.That(lockout.WaitingCount, Is.Zero);
    }

    [Test]
    public void A_collected_lockout_disappears_from_the_measurements()
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
        var lockout = new Lockout(new LockoutOptions { Name = name, TimeProvider = new FakeTimeProvider() });
        AssertObserved(recorder, locked: 0, waits: 0, waiters: 0);
        GC.KeepAlive(lockout);
    }

    private static void AssertObserved(MetricsRecorder recorder, int locked, int waits, int waiters)
    {
        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.lockout.locked"), Is.EqualTo(locked), "locked");
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.lockout.waits"), Is.EqualTo(waits), "waits");
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.lockout.waiters"), Is.EqualTo(waiters), "waiters");
            Assert.That(observed, Has.Count.EqualTo(3));
        });
    }

    private static string UniqueName() => $"lockout-test-{Guid.NewGuid():N}";
}
