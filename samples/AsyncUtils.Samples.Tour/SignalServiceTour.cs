using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AsyncUtils;

namespace AsyncUtils.Samples.Tour;

internal static class SignalServiceTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(120, "AsyncUtils.SignalService", RunAsync);

    public static async Task RunAsync()
    {
        Console.WriteLine("A SignalHost runs a worker process's life: startup jobs, then waiting for Ctrl+C or");
        Console.WriteLine("SIGTERM (or a request from inside the program), then shutdown callbacks, then joins.");
        Console.WriteLine("Here the worker asks for the shutdown itself, so nobody has to press Ctrl+C.");

        var host = new SignalHost(new SignalHostOptions { ShutdownTimeout = TimeSpan.FromSeconds(5) });
        Channel<int> jobs = Channel.CreateUnbounded<int>();
        Task worker = Task.CompletedTask;

        host.AddStartupJob(() =>
        {
            worker = Task.Run(async () =>
            {
                int handled = 0;
                await foreach (int job in jobs.Reader.ReadAllAsync())
                {
                    await Task.Delay(20); // a little real work
                    Console.WriteLine($"  worker: handled job {job}");
                    if (++handled == 3)
                    {
                        // From a worker thread: the same shutdown a signal would start, with its own exit code.
                        Console.WriteLine("  worker: all jobs done, calling host.RequestShutdown(reason, exitCode: 0)");
                        host.RequestShutdown("all three jobs are done", exitCode: 0);
                    }
                }

                Console.WriteLine("  worker: queue completed, exiting");
            });
            Console.WriteLine("  startup job 1: started the worker");
        });
        host.AddStartupJob(() =>
        {
            Console.WriteLine("  startup job 2: queue three jobs; then the host waits (its SIGINT/SIGTERM handlers are installed)");
            for (int job = 1; job <= 3; job++)
            {
                jobs.Writer.TryWrite(job);
            }
        });
        host.AddShutdownCallback(cause =>
        {
            Console.WriteLine($"  shutdown callback: cause = {cause}; stop taking new work");
            jobs.Writer.TryComplete();
        });
        host.AddJoin(() => worker, TimeSpan.FromSeconds(2));
        host.AddJoin(() => Console.WriteLine("  join 2: flush logs"));

        SignalHostResult result = await host.RunAsync();

        Console.WriteLine($"  RunAsync returned: {result}");
        Console.WriteLine("In a real program Main returns result.ExitCode: 130 after Ctrl+C, 143 after SIGTERM,");
        Console.WriteLine("252 for RequestShutdown() without a code, 1 if anything threw or missed its deadline.");
        Console.WriteLine("A second Ctrl+C during a slow shutdown exits at once with 130.");
    }
}
