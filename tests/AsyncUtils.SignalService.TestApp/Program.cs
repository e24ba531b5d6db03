using System.Runtime.InteropServices;
using AsyncUtils;

namespace AsyncUtils.SignalService.TestApp;

/// <summary>
/// A worker process for the process tests. Each scenario registers startup jobs, shutdown
/// callbacks and joins that print one line each, prints "ready" as its last startup job, and
/// returns the run's exit code. The tests read the lines to check what ran, in which order.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        string scenario = args.Length > 0 ? args[0] : "order";
        var host = scenario switch
        {
            "deadline" => new SignalHost(new SignalHostOptions { ShutdownTimeout = TimeSpan.FromSeconds(20) }),
            _ => new SignalHost(),
        };

        switch (scenario)
        {
            case "order":
                Order(host);
                break;
            case "throwing":
                Throwing(host);
                break;
            case "reload":
                Reload(host);
                break;
            case "request":
                Request(host);
                break;
            case "deadline":
                Deadline(host);
                break;
            case "second":
                Second(host);
                break;
            default:
                Print($"unknown scenario {scenario}");
                return 2;
        }

        host.AddStartupJob(() => Print("ready"));
        SignalHostResult result = host.Run();
        foreach (SignalHostFault fault in result.Faults)
        {
            Print($"fault {fault.Phase} {fault.Index} {fault.Exception.GetType().Name}");
        }

        Print($"run returned {result.ExitCode}");
        if (scenario == "throwing")
        {
            // The handlers must be gone now: the test sends SIGTERM, which must end the process
            // the default way instead of being swallowed. Wait for it (bounded by the test).
            Print("waiting for a signal after the run");
            Thread.Sleep(Timeout.Infinite);
        }

        return result.ExitCode;
    }

    private static void Print(string line) => Console.WriteLine(line);

    private static string Describe(ShutdownCause cause) =>
        cause.Kind == ShutdownCauseKind.Signal ? $"{cause.Kind} {cause.Signal}" : $"{cause.Kind} {cause.Reason}";

    /// <summary>A worker thread that runs until the shutdown is requested, plus a callback and join of each kind.</summary>
    private static void Order(SignalHost host)
    {
        var worker = new Thread(() =>
        {
            host.ShutdownRequested.WaitHandle.WaitOne();
            Print("worker stopped");
        });

        host.AddStartupJob(() => Print("startup 0"));
        host.AddStartupJob(async () =>
        {
            await Task.Yield();
            Print("startup 1");
        });
        host.AddStartupJob(worker.Start);
        host.AddShutdownCallback(cause => Print($"callback 0 {Describe(cause)}"));
        host.AddShutdownCallback(async cause =>
        {
            await Task.Yield();
            Print($"callback 1 {Describe(cause)}");
        });
        host.AddJoin(worker, TimeSpan.FromSeconds(10));
        host.AddJoin(() => Print("join 1"));
        host.AddJoin(async () =>
        {
            await Task.Delay(1);
            Print("join 2");
        });
    }

    /// <summary>The first shutdown callback throws; the rest still run.</summary>
    private static void Throwing(SignalHost host)
    {
        host.AddShutdownCallback(_ =>
        {
            Print("callback 0 throws");
            throw new InvalidOperationException("callback 0 failed");
        });
        host.AddShutdownCallback(cause => Print($"callback 1 {Describe(cause)}"));
        host.AddJoin(() => Print("join 0"));
    }

    /// <summary>SIGHUP reloads and the process keeps running.</summary>
    private static void Reload(SignalHost host)
    {
        int reloads = 0;
        host.Handle(PosixSignal.SIGHUP, SignalAction.Reload);
        host.AddReloadCallback(signal => Print($"reload 0 {signal} #{++reloads}"));
        host.AddReloadCallback(async signal =>
        {
            await Task.Yield();
            Print($"reload 1 {signal} #{reloads}");
        });
        host.AddShutdownCallback(cause => Print($"callback 0 {Describe(cause)}"));
        host.AddJoin(() => Print("join 0"));
    }

    /// <summary>A worker thread reads standard input and, on "stop", requests the shutdown from inside.</summary>
    private static void Request(SignalHost host)
    {
        var reader = new Thread(() =>
        {
            while (Console.ReadLine() is string line)
            {
                if (line == "stop")
                {
                    Print($"requested {host.RequestShutdown("stdin said stop")}");
                    Print($"requested again {host.RequestShutdown("a second request")}");
                    return;
                }
            }
        })
        { IsBackground = true };

        host.AddStartupJob(reader.Start);
        host.AddShutdownCallback(cause => Print($"callback 0 {Describe(cause)} {cause.ExitCode}"));
        host.AddJoin(() => Print("join 0"));
    }

    /// <summary>A join that never finishes, with a 300 ms timeout; the next join still runs.</summary>
    private static void Deadline(SignalHost host)
    {
        host.AddShutdownCallback(cause => Print($"callback 0 {Describe(cause)}"));
        host.AddJoin(
            ct =>
            {
                Print("join 0 waits forever");
                return Task.Delay(Timeout.Infinite, ct);
            },
            TimeSpan.FromMilliseconds(300));
        host.AddJoin(() => Print("join 1"));
    }

    /// <summary>A shutdown callback that never returns: only a second signal ends the process.</summary>
    private static void Second(SignalHost host)
    {
        host.AddShutdownCallback(cause =>
        {
            Print($"callback 0 blocks {Describe(cause)}");
            using var never = new ManualResetEventSlim();
            never.Wait();
        });
        host.AddJoin(() => Print("join 0"));
    }
}
