using System.Runtime.InteropServices;
using CsCheck;

namespace AsyncUtils.Tests;

public sealed class SignalHostConcurrencyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Racing_requests_and_signals_from_many_threads_start_exactly_one_shutdown()
    {
        const int Racers = 4;
        for (int round = 0; round < 100; round++)
        {
            var forced = new List<int>();
            SignalHost host = FakeSignals.Host(out FakeSignals signals, new SignalHostOptions { ForceExit = code => { lock (forced) { forced.Add(code); } } });
            var callbacks = 0;
            using var racersDone = new CountdownEvent(Racers + 1);
            host.AddShutdownCallback(_ =>
            {
                Interlocked.Increment(ref callbacks);
                // Keep the handlers installed until every racer has had its go, as a real shutdown takes time.
                Assert.That(racersDone.Wait(Bound), Is.True);
            });
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            host.AddStartupJob(ready.SetResult);
            Task<SignalHostResult> run = host.RunAsync();
            await ready.Task.WaitAsync(Bound);

            var winners = new bool[Racers];
            using var start = new Barrier(Racers + 1);
            Thread[] threads = [.. Enumerable.Range(0, Racers).Select(i => new Thread(() =>
            {
                start.SignalAndWait(Bound);
                winners[i] = host.RequestShutdown($"racer {i}");
                racersDone.Signal();
            }))];
            var delivered = false;
            var signaller = new Thread(() =>
            {
                start.SignalAndWait(Bound);
                delivered = signals.Raise(PosixSignal.SIGTERM);
                racersDone.Signal();
            });
            foreach (Thread t in threads)
            {
                t.Start();
            }

            signaller.Start();
            foreach (Thread t in threads.Append(signaller))
            {
                Assert.That(t.Join(Bound), Is.True);
            }

            SignalHostResult result = await run.WaitAsync(Bound);
            int winnerCount = winners.Count(w => w);
            Assert.Multiple(() =>
            {
                Assert.That(delivered, Is.True);
                Assert.That(callbacks, Is.EqualTo(1));
                Assert.That(forced, Is.Empty, "one signal never forces an exit, whoever won");
                if (result.Cause.Kind == ShutdownCauseKind.Signal)
                {
                    Assert.That(winnerCount, Is.Zero);
                }
                else
                {
                    Assert.That(winnerCount, Is.EqualTo(1));
                    Assert.That(result.Cause.Reason, Is.EqualTo($"racer {Array.IndexOf(winners, true)}"));
                }
            });
        }
    }

    /// <summary>One registered step: what kind, whether it is asynchronous, whether it throws.</summary>
    private readonly record struct Step(int Kind, bool Async, bool Throws)
    {
        public const int Startup = 0;
        public const int Callback = 1;
        public const int Join = 2;
    }

    [Test]
    public void Any_mix_of_steps_runs_in_order_with_every_fault_recorded_once_and_nothing_after_a_failed_startup_job_started()
    {
        Gen<Step> step = Gen.Select(Gen.Int[0, 2], Gen.Bool, Gen.Int[0, 3], (kind, isAsync, roll) => new Step(kind, isAsync, roll == 0));
        step.Array[0, 12].Sample(steps =>
        {
            SignalHost host = FakeSignals.Host(out FakeSignals signals);
            var log = new Log();
            var counters = new int[3];
            foreach (Step s in steps)
            {
                string name = $"{s.Kind}.{counters[s.Kind]++}";
                switch (s.Kind)
                {
                    case Step.Startup when s.Async:
                        host.AddStartupJob(async () => { await Task.Yield(); Act(name, s.Throws); });
                        break;
                    case Step.Startup:
                        host.AddStartupJob(() => Act(name, s.Throws));
                        break;
                    case Step.Callback when s.Async:
                        host.AddShutdownCallback(async _ => { await Task.Yield(); Act(name, s.Throws); });
                        break;
                    case Step.Callback:
                        host.AddShutdownCallback(_ => Act(name, s.Throws));
                        break;
                    case Step.Join when s.Async:
                        host.AddJoin(async () => { await Task.Yield(); Act(name, s.Throws); });
                        break;
                    default:
                        host.AddJoin(() => Act(name, s.Throws));
                        break;
                }
            }

            host.AddStartupJob(() => host.RequestShutdown());
            SignalHostResult result = host.Run();

            // The model: startup jobs in order up to and including the first that throws; then every
            // callback in order; then every join in order. Each throwing step that ran is one fault.
            var expected = new List<string>();
            var expectedFaults = new List<(SignalHostPhase, int)>();
            int startupIndex = 0;
            bool startupFailed = false;
            foreach (Step s in steps.Where(s => s.Kind == Step.Startup))
            {
                expected.Add($"0.{startupIndex}");
                if (s.Throws)
                {
                    expectedFaults.Add((SignalHostPhase.StartupJob, startupIndex));
                    startupFailed = true;
                    break;
                }

                startupIndex++;
            }

            foreach ((int kind, SignalHostPhase phase) in new[] { (Step.Callback, SignalHostPhase.ShutdownCallback), (Step.Join, SignalHostPhase.Join) })
            {
                int index = 0;
                foreach (Step s in steps.Where(s => s.Kind == kind))
                {
                    expected.Add($"{kind}.{index}");
                    if (s.Throws)
                    {
                        expectedFaults.Add((phase, index));
                    }

                    index++;
                }
            }

            Assert.That(log.Entries, Is.EqualTo(expected));
            Assert.That(result.Faults.Select(f => (f.Phase, f.Index)), Is.EqualTo(expectedFaults));
            Assert.That(result.Cause.Kind, Is.EqualTo(startupFailed ? ShutdownCauseKind.StartupFailed : ShutdownCauseKind.Requested));
            Assert.That(result.ExitCode, Is.EqualTo(expectedFaults.Count > 0 ? 1 : 252));
            Assert.That(signals.Active, Is.Empty);

            void Act(string name, bool throws)
            {
                log.Add(name);
                if (throws)
                {
                    throw new InvalidOperationException(name);
                }
            }
        }, iter: 300);
    }
}
