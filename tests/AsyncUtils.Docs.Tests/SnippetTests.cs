using AsyncUtils.Docs.Snippets;

namespace AsyncUtils.Docs.Tests;

/// <summary>Runs every code sample the site shows; each checks that it did what its page says.</summary>
public sealed class SnippetTests
{
    private static IEnumerable<string> SnippetNames() => SnippetCatalog.All.Select(s => s.Name);

    [TestCaseSource(nameof(SnippetNames))]
    public async Task Documentation_sample_runs_as_documented(string name)
    {
        Func<Task> run = SnippetCatalog.All.Single(s => s.Name == name).Run;

        await run().WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Test]
    public void Every_snippet_file_a_page_references_exists()
    {
        var missing = new List<string>();
        // The pages the site builds (docs/README.md, which explains the syntax, is not one of them).
        foreach (string page in Directory.GetFiles(Repo.Docs, "*.md", SearchOption.AllDirectories)
                     .Where(p => Path.GetRelativePath(Repo.Docs, p) != "README.md" && !p.Contains($"{Path.DirectorySeparatorChar}snippets{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            string text = File.ReadAllText(page);
            foreach (System.Text.RegularExpressions.Match match in System.Text.RegularExpressions.Regex.Matches(text, @"\[!code-csharp\[\]\((?<path>[^#)]+)(#(?<region>[^)]+))?\)\]"))
            {
                string file = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, match.Groups["path"].Value));
                string region = match.Groups["region"].Value;
                if (!File.Exists(file))
                {
                    missing.Add($"{Path.GetRelativePath(Repo.Root, page)}: {match.Groups["path"].Value}");
                }
                else if (region.Length > 0 && !File.ReadAllText(file).Contains($"// <{region}>", StringComparison.Ordinal))
                {
                    missing.Add($"{Path.GetRelativePath(Repo.Root, page)}: region {region} in {match.Groups["path"].Value}");
                }
            }
        }

        Assert.That(missing, Is.Empty);
    }
}
