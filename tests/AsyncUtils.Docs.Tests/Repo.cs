namespace AsyncUtils.Docs.Tests;

/// <summary>Paths in the repository the tests run from.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Docs => Path.Combine(Root, "docs");

    public static string Site => Path.Combine(Root, "artifacts", "docs");

    public static string Screenshots => Path.Combine(Root, "artifacts", "docs-screenshots");

    /// <summary>Every package folder's name without the family prefix, except the metapackage.</summary>
    public static IReadOnlyList<string> PackageNames() =>
        Directory.GetDirectories(Path.Combine(Root, "packages"), "AsyncUtils.*")
            .Where(dir => Directory.GetFiles(dir, "*.csproj").Length > 0)
            .Select(dir => Path.GetFileName(dir)["AsyncUtils.".Length..])
            .Where(name => name != "All")
            .Order(StringComparer.Ordinal)
            .ToList();

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "docs", "docfx.json")) && Directory.Exists(Path.Combine(dir.FullName, "packages")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root (with docs/docfx.json) above {AppContext.BaseDirectory}.");
    }
}
