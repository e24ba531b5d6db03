namespace AsyncUtils.Samples.Tour;

/// <summary>
/// A guided tour: each section exercises one package and says, in plain words, what the
/// primitive just did. Run it with `dotnet run --project samples/AsyncUtils.Samples.Tour`.
/// </summary>
internal static class Program
{
    private static async Task<int> Main()
    {
        IReadOnlyList<(int Order, string Package, Func<Task> Run)> sections = TourSections.All;
        Console.WriteLine("AsyncUtils tour: one section per package.");
        foreach ((_, string package, Func<Task> run) in sections)
        {
            Console.WriteLine();
            Console.WriteLine($"== {package} ==");
            await run();
        }

        Console.WriteLine();
        Console.WriteLine($"Tour complete: {sections.Count} package(s) shown.");
        return 0;
    }
}
