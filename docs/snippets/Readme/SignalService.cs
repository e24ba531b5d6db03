using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeSignalService
{
    public static async Task RunAsync()
    {
        // The examples wait for real signals: the run sends them to this process with kill(1),
        // only once the example's startup job shows the handlers are installed.
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }

        int rootExit = 0;
        string root = await Capture.ConsoleAsync(() => Task.Run(() => { rootExit = Root(); }));
        Check.That(rootExit == 143, "SIGTERM ends the root example's host with exit code 143");
        Capture.Printed(root, "stopping: SIGTERM (exit code 143)");

        int packageExit = 0;
        string package = "";
        await Capture.InDirectoryAsync(new Dictionary<string, string>(), async _ =>
        {
            package = await Capture.ConsoleAsync(
                () => Task.Run(() => { packageExit = Package(); }),
                line =>
                {
                    if (line.Contains(" running: ", StringComparison.Ordinal))
                    {
                        Kill("HUP");   // the reload callback prints the prefix...
                    }
                    else if (line.Contains("prefix is now", StringComparison.Ordinal))
                    {
                        Kill("TERM");  // ...then the worker is stopped
                    }
                });
        });
        Check.That(packageExit == 143, "SIGTERM ends the worker with exit code 143");
        Capture.Printed(package, "SIGHUP: prefix is now 'event'");
        Capture.Printed(package, "stopping: SIGTERM (exit code 143)");
        Capture.Printed(package, "shut down on SIGTERM (exit code 143) in ");
        Capture.Printed(package, "exit code 143, no faults");
    }

    private static void Kill(string signal)
    {
        using Process kill = Process.Start(new ProcessStartInfo("kill", [$"-{signal}", Environment.ProcessId.ToString(CultureInfo.InvariantCulture)]))!;
        kill.WaitForExit();
    }

    private static int Root()
    {
        var worker = new Thread(() => Kill("TERM")); // stands for the work; here it stops the example
        Settings settings = Settings.Load();

        // <RootSignalService>
        var host = new SignalHost(new SignalHostOptions { ShutdownTimeout = TimeSpan.FromSeconds(8) });
        host.Handle(PosixSignal.SIGHUP, SignalAction.Reload);            // kill -HUP: reload, keep running
        host.AddStartupJob(worker.Start);                                // runs once the handlers are installed
        host.AddReloadCallback(_ => settings = Settings.Load());
        host.AddShutdownCallback(cause => Console.WriteLine($"stopping: {cause}"));  // "SIGTERM (exit code 143)"
        host.AddJoin(worker, TimeSpan.FromSeconds(5));                   // joins run in order, each bounded
        return host.Run().ExitCode;  // 130 Ctrl+C, 143 SIGTERM, 252 RequestShutdown(), 1 on any fault
        // </RootSignalService>
    }

    private static int Package()
    {
        // <ReadmeSignalService>
        var host = new SignalHost(new SignalHostOptions
        {
            ShutdownTimeout = TimeSpan.FromSeconds(8), // finish before `docker stop` sends SIGKILL at 10 s
        });
        host.Handle(PosixSignal.SIGHUP, SignalAction.Reload); // `kill -HUP <pid>` re-reads the settings

        string prefix = ReadPrefix();
        Channel<string> events = Channel.CreateBounded<string>(1_000);

        // A producer thread: one event a second until the shutdown is requested.
        var producer = new Thread(() =>
        {
            for (int i = 0; !host.ShutdownRequested.WaitHandle.WaitOne(1_000); i++)
            {
                events.Writer.TryWrite($"{prefix} {i}");
            }
        }) { Name = "producer" };

        // A consumer task: appends every event to a file until the queue is completed and empty.
        async Task ConsumeAsync()
        {
            await using var log = new StreamWriter("events.log", append: true);
            await foreach (string e in events.Reader.ReadAllAsync())
            {
                await log.WriteLineAsync(e);
            }
        }

        Task consumer = Task.CompletedTask;

        // 1. Startup jobs run in order, once the signal handlers are installed.
        host.AddStartupJob(producer.Start);
        host.AddStartupJob(() => { consumer = Task.Run(ConsumeAsync); }); // braces: start it, do not wait for it
        host.AddStartupJob(() => Console.WriteLine($"worker {Environment.ProcessId} running: Ctrl+C or kill -TERM stops it, kill -HUP reloads"));

        // 2. A reload signal calls the reload callbacks; the worker keeps running.
        host.AddReloadCallback(signal =>
        {
            prefix = ReadPrefix();
            Console.WriteLine($"{signal}: prefix is now '{prefix}'");
        });

        // 3. The shutdown: host.ShutdownRequested is cancelled first (the producer stops), then the
        //    shutdown callbacks run in order, then the joins in order.
        host.AddShutdownCallback(cause => Console.WriteLine($"stopping: {cause}"));
        host.AddJoin(producer, TimeSpan.FromSeconds(2));        // the producer has stopped writing...
        host.AddJoin(() => events.Writer.TryComplete());         // ...so completing the queue loses nothing...
        host.AddJoin(() => consumer, TimeSpan.FromSeconds(5));  // ...and the consumer drains it and ends.

        SignalHostResult result = host.Run(); // blocks until the shutdown has finished
        foreach (SignalHostFault fault in result.Faults)
        {
            Console.Error.WriteLine($"shutdown problem: {fault}");
        }

        Console.WriteLine(result); // shut down on SIGTERM (exit code 143) in 0.008 s; exit code 143, no faults
        return result.ExitCode;

        static string ReadPrefix() => File.Exists("prefix.txt") ? File.ReadAllText("prefix.txt").Trim() : "event";
        // </ReadmeSignalService>
    }

    private sealed class Settings
    {
        public static Settings Load() => new();
    }
}
