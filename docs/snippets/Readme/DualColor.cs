using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeDualColor
{
    private static readonly Dictionary<string, string> Input = new() { ["input.txt"] = "one\ntwo\nthree\n" };

    public static async Task RunAsync()
    {
        await Capture.InDirectoryAsync(Input, _ => Root());
        await Capture.InDirectoryAsync(Input, _ => Package());
    }

    private static async Task Root()
    {
        var processed = new List<string>();
        Task ProcessAsync(string line)
        {
            processed.Add(line);
            return Task.CompletedTask;
        }

        // <RootDualColor>
        var queue = new DualQueue<string>(capacity: 100);
        new Thread(() =>
        {
            foreach (string line in File.ReadLines("input.txt")) queue.Put(line); // blocks while full
            queue.Complete();
        }).Start();

        await foreach (string line in queue.ReadAllAsync())                      // awaits, blocks no thread
            await ProcessAsync(line);
        // </RootDualColor>

        Check.That(processed.SequenceEqual(["one", "two", "three"]), "every line is processed, in order");
    }

    private static async Task Package()
    {
        var processed = new List<string>();
        Task ProcessAsync(string line)
        {
            processed.Add(line);
            return Task.CompletedTask;
        }

        // <ReadmeDualColor>
        var queue = new DualQueue<string>(capacity: 100);

        // A plain thread produces with blocking puts (it blocks while the queue is full)...
        var producer = new Thread(() =>
        {
            foreach (string line in File.ReadLines("input.txt"))
            {
                queue.Put(line);
            }

            queue.Complete();              // no more puts; readers finish what is left
        });
        producer.Start();

        // ...and async code consumes, blocking no thread while it waits.
        await foreach (string line in queue.ReadAllAsync())
        {
            await ProcessAsync(line);
        }
        // </ReadmeDualColor>

        Check.That(processed.SequenceEqual(["one", "two", "three"]) && producer.Join(TimeSpan.FromSeconds(10)), "every line is processed, in order");
    }
}
