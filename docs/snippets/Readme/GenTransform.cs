using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeGenTransform
{
    private static readonly Dictionary<string, string> Files = new()
    {
        ["big.log"] = "INFO start\nINFO working\nERROR disk full\nINFO never read\n",
        ["import.csv"] = "a,1\nb,2\n",
    };

    private static readonly List<string> Imported = [];

    public static async Task RunAsync()
    {
        await Capture.InDirectoryAsync(Files, _ => Root());
        await Capture.InDirectoryAsync(Files, _ => Package());
        await Capture.InDirectoryAsync(Files, _ => Context());
        await Capture.InDirectoryAsync(Files, _ => Scope(CancellationToken.None));
        Check.That(Imported.SequenceEqual(["a,1", "b,2", "a,1", "b,2"]), "both imports read every line");
    }

    private static IEnumerable<string> ReadLines(string path, CancellationToken token)
    {
        using var reader = new StreamReader(path);
        while (!token.IsCancellationRequested && reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static IEnumerable<string> Lines(ThreadedSourceContext context)
    {
        using StreamReader reader = File.OpenText("import.csv");
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static ValueTask ImportAsync(string line, CancellationToken ct)
    {
        lock (Imported)
        {
            Imported.Add(line);
        }

        return ValueTask.CompletedTask;
    }

    private static async Task Root()
    {
        int seen = 0;

        // <RootGenTransform>
        await foreach (string line in ThreadedAsyncEnumerable.Create(token => ReadLines("big.log", token)))
        {
            if (line.StartsWith("ERROR", StringComparison.Ordinal)) break; // the source is cleaned up before the loop exits
        }
        // </RootGenTransform>

        await foreach (string line in ThreadedAsyncEnumerable.Create(token => ReadLines("big.log", token)))
        {
            seen++;
            if (line.StartsWith("ERROR", StringComparison.Ordinal)) break;
        }

        Check.That(seen == 3, "the loop stops at the first ERROR line");
    }

    private static async Task Package()
    {
        string? found = null;

        // <ReadmeGenTransform>
        static IEnumerable<string> ReadLines(string path, CancellationToken token)
        {
            using var reader = new StreamReader(path);           // disposed on the source thread, also on early exit
            while (!token.IsCancellationRequested && reader.ReadLine() is { } line)
            {
                yield return line;                                // blocking reads, on the source's own thread
            }
        }

        await foreach (string line in ThreadedAsyncEnumerable.Create(token => ReadLines("big.log", token)))
        {
            if (line.StartsWith("ERROR", StringComparison.Ordinal))
            {
                break;                                            // cancels the token, runs the finally, then continues here
            }
        }
        // </ReadmeGenTransform>

        await foreach (string line in ThreadedAsyncEnumerable.Create(token => ReadLines("big.log", token)))
        {
            if (line.StartsWith("ERROR", StringComparison.Ordinal))
            {
                found = line;
                break;
            }
        }

        Check.That(found == "ERROR disk full", "the loop stops at the first ERROR line");
    }

    private static async Task Context()
    {
        // <ReadmeGenTransformContext>
        IEnumerable<string> Lines(ThreadedSourceContext context)
        {
            using StreamReader reader = File.OpenText("import.csv");
            try
            {
                while (reader.ReadLine() is { } line)
                {
                    yield return line;
                }
            }
            finally
            {
                if (context.ConsumerException is { } ex)
                {
                    Console.Error.WriteLine($"import stopped at byte {reader.BaseStream.Position}: {ex.Message}");
                }
            }
        }

        await ThreadedAsyncEnumerable.CreateWithContext(Lines)
            .ForEachAsync(async (line, ct) => await ImportAsync(line, ct)); // ImportAsync: your code
        // </ReadmeGenTransformContext>
    }

    private static async Task Scope(CancellationToken ct)
    {
        // <ReadmeGenTransformScope>
        await using var scope = ThreadedAsyncEnumerable.CreateWithContext(Lines).OpenScope(ct);
        try
        {
            await foreach (string line in scope)
            {
                await ImportAsync(line, ct);
            }
        }
        catch (Exception ex)
        {
            scope.ForwardException(ex);   // the source's finally sees it as ConsumerException
            throw;                        // then the scope's disposal cleans up, before the caller's catch runs
        }
        // </ReadmeGenTransformScope>
    }
}
