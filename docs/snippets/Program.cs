using AsyncUtils.Docs.Snippets;

// `dotnet run --project docs/snippets` runs every documentation sample, as the docs tests do.
foreach ((string name, Func<Task> run) in SnippetCatalog.All)
{
    Console.WriteLine($"== {name}");
    await run();
}

Console.WriteLine("Every documentation sample ran as documented.");
