using AsyncUtils.Docs.Snippets;

namespace ReadmeSnippets;

/// <summary>
/// The README examples live in the namespace <c>ReadmeSnippets</c>, outside <c>AsyncUtils</c>, so a
/// type named like its package (<c>Lockout</c>, <c>Waterfall</c>) resolves as it does in a user's
/// program. Each README file's text is checked against its region by
/// tests/AsyncUtils.Docs.Tests/ReadmeSnippetTests.cs and rewritten by build/sync-readme-snippets.py.
/// </summary>
internal static class Capture
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly SemaphoreSlim DirectoryGate = new(1, 1);

    /// <summary>Runs <paramref name="example"/> with the console redirected; returns what it printed.</summary>
    /// <param name="example">The example to run.</param>
    /// <param name="onLine">Called with each line the example writes with <c>Console.WriteLine</c>.</param>
    public static async Task<string> ConsoleAsync(Func<Task> example, Action<string>? onLine = null)
    {
        await Gate.WaitAsync();
        TextWriter original = Console.Out;
        var output = new LineWriter(onLine);
        try
        {
            Console.SetOut(TextWriter.Synchronized(output));
            await example();
        }
        finally
        {
            Console.SetOut(original);
            Gate.Release();
        }

        string text = output.ToString();
        original.Write(text);
        return text;
    }

    /// <summary>
    /// Runs <paramref name="example"/> with a fresh temporary directory as the current directory,
    /// holding <paramref name="files"/> (name, text), for examples that read or write relative paths.
    /// </summary>
    public static async Task InDirectoryAsync(IReadOnlyDictionary<string, string> files, Func<string, Task> example)
    {
        await DirectoryGate.WaitAsync();
        string original = Environment.CurrentDirectory;
        string directory = Directory.CreateTempSubdirectory("asyncutils-readme-").FullName;
        try
        {
            foreach ((string name, string text) in files)
            {
                await File.WriteAllTextAsync(Path.Combine(directory, name), text);
            }

            Environment.CurrentDirectory = directory;
            await example(directory);
        }
        finally
        {
            Environment.CurrentDirectory = original;
            Directory.Delete(directory, recursive: true);
            DirectoryGate.Release();
        }
    }

    /// <summary>Checks that the example printed <paramref name="expected"/>, as its README comment says.</summary>
    public static void Printed(string output, string expected) =>
        Check.That(output.Contains(expected, StringComparison.Ordinal), $"the example prints \"{expected}\" (it printed: {output.Trim()})");

    private sealed class LineWriter(Action<string>? onLine) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            onLine?.Invoke(value ?? "");
        }
    }
}
