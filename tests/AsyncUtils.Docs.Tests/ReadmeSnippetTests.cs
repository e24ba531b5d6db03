using System.Text.RegularExpressions;
using AsyncUtils.Docs.Snippets;

namespace AsyncUtils.Docs.Tests;

/// <summary>
/// The C# examples of README.md and packages/*/README.md are compiled snippets: every ```csharp
/// block follows a <c>&lt;!-- snippet: docs/snippets/Readme/File.cs#Region --&gt;</c> marker and
/// equals that region (the rule of docs/README.md, "README examples", which
/// build/sync-readme-snippets.py applies when it rewrites the blocks).
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    private const string PendingFile = "tests/AsyncUtils.Docs.Tests/readme-snippets-pending.txt";

    [Test]
    public void Every_readme_csharp_block_is_marked_and_equals_its_snippet_region()
    {
        HashSet<string> pending = Pending();
        var problems = new List<string>();
        foreach (string readme in Readmes())
        {
            foreach (Block block in Blocks(readme))
            {
                if (block.Marker is null)
                {
                    if (!pending.Contains(block.Readme))
                    {
                        problems.Add($"{block.Readme}:{block.Line}: a ```csharp block without a <!-- snippet: docs/snippets/Readme/<File>.cs#<Region> --> line before it");
                    }

                    continue;
                }

                string? problem = Compare(block);
                if (problem is not null)
                {
                    problems.Add($"{block.Readme}:{block.Line}: {problem}");
                }
            }
        }

        Assert.That(problems, Is.Empty, "Edit the snippet in docs/snippets/Readme, then run: python3 build/sync-readme-snippets.py");
    }

    [Test]
    public void The_pending_list_names_only_readmes_with_unmarked_blocks()
    {
        var stale = Pending()
            .Where(readme => !File.Exists(Path.Combine(Repo.Root, readme)) || Blocks(Path.Combine(Repo.Root, readme)).All(b => b.Marker is not null))
            .ToList();

        Assert.That(stale, Is.Empty, $"These READMEs are fully marked (or gone): delete their lines from {PendingFile}");
    }

    [Test]
    public void Every_readme_snippet_file_is_run_by_the_snippet_catalog()
    {
        string readmeDir = Path.Combine(Repo.Docs, "snippets", "Readme");
        string catalog = File.ReadAllText(Path.Combine(readmeDir, "ReadmeCatalog.cs"));
        var problems = new List<string>();
        foreach (string file in Readmes().SelectMany(Blocks).Where(b => b.Marker is not null).Select(b => b.Marker!.Value.Path).Distinct())
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (!file.StartsWith("docs/snippets/Readme/", StringComparison.Ordinal))
            {
                problems.Add($"{file}: README snippets live in docs/snippets/Readme/");
            }
            else if (!catalog.Contains($"Readme{name}.RunAsync", StringComparison.Ordinal))
            {
                problems.Add($"{file}: ReadmeCatalog.cs does not run Readme{name}.RunAsync");
            }
        }

        Assert.That(problems, Is.Empty);
        Assert.That(ReadmeSnippets.ReadmeCatalog.All.Select(s => s.Name), Is.SubsetOf(SnippetCatalog.All.Select(s => s.Name)),
            "SnippetCatalog runs every README example (SnippetTests runs SnippetCatalog)");
    }

    /// <summary>The rule itself, on fixed text, so that a comparison that always passes fails here.</summary>
    [Test]
    public void The_rule_takes_the_readmes_usings_a_blank_line_and_the_dedented_region()
    {
        const string source = "using System.Net;\nusing AsyncUtils.Lru;\n\nclass C\n{\n    void M()\n    {\n        // <R>\n        var x = 1;\n\n        if (x == 1)\n        {\n            x++;   \n        }\n        // </R>\n    }\n}\n";
        string[] body = ["var x = 1;", "", "if (x == 1)", "{", "    x++;", "}"];

        Assert.Multiple(() =>
        {
            Assert.That(Expected(body, source, "R"), Is.EqualTo(body));
            Assert.That(Expected(["using AsyncUtils.Lru;", "", .. body], source, "R"), Is.EqualTo(new[] { "using AsyncUtils.Lru;", "" }.Concat(body)));
            Assert.That(Expected(["var x = 2;"], source, "R"), Is.EqualTo(body));
            Assert.That(() => Expected(["using System.Linq;", "", .. body], source, "R"), Throws.InvalidOperationException.With.Message.Contains("System.Linq"));
            Assert.That(() => Expected(["using System.Net;", "using System.Net;", "", .. body], source, "R"), Throws.InvalidOperationException.With.Message.Contains("twice"));
            Assert.That(() => Expected(body, source, "Missing"), Throws.InvalidOperationException);
        });
    }

    private static string? Compare(Block block)
    {
        (string path, string region) = block.Marker!.Value;
        string file = Path.Combine(Repo.Root, path);
        if (!File.Exists(file))
        {
            return $"snippet file {path} does not exist";
        }

        try
        {
            List<string> expected = Expected(block.Lines, File.ReadAllText(file), region);
            if (expected.SequenceEqual(block.Lines, StringComparer.Ordinal))
            {
                return null;
            }

            int at = Enumerable.Range(0, Math.Max(expected.Count, block.Lines.Count))
                .First(i => i >= expected.Count || i >= block.Lines.Count || expected[i] != block.Lines[i]);
            return $"differs from {path}#{region} at block line {at + 1}: README has \"{(at < block.Lines.Count ? block.Lines[at] : "(end)")}\", the snippet \"{(at < expected.Count ? expected[at] : "(end)")}\"";
        }
        catch (InvalidOperationException e)
        {
            return $"{path}#{region}: {e.Message}";
        }
    }

    /// <summary>
    /// What a marked block must be: its own leading using directives (each a using directive of the
    /// snippet file, none twice), a blank line, then the region's lines, right-trimmed, dedented by
    /// their smallest indentation, without leading or trailing blank lines. No usings: the region alone.
    /// </summary>
    private static List<string> Expected(IReadOnlyList<string> block, string source, string region)
    {
        var usings = new List<string>();
        foreach (string line in block)
        {
            if (UsingDirective().IsMatch(line.Trim()))
            {
                usings.Add(line.Trim());
            }
            else if (line.Trim().Length > 0)
            {
                break;
            }
        }

        var fileUsings = source.Split('\n').Select(l => l.Trim()).Where(l => UsingDirective().IsMatch(l)).ToHashSet(StringComparer.Ordinal);
        string? missing = usings.FirstOrDefault(u => !fileUsings.Contains(u));
        if (missing is not null)
        {
            throw new InvalidOperationException($"shows \"{missing}\", which is not a using directive of the snippet file");
        }

        string? twice = usings.GroupBy(u => u, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (twice is not null)
        {
            throw new InvalidOperationException($"shows \"{twice}\" twice");
        }

        string[] lines = source.Split('\n');
        int[] starts = [.. Enumerable.Range(0, lines.Length).Where(i => lines[i].Trim() == $"// <{region}>")];
        int[] ends = [.. Enumerable.Range(0, lines.Length).Where(i => lines[i].Trim() == $"// </{region}>")];
        if (starts.Length != 1 || ends.Length != 1 || ends[0] <= starts[0])
        {
            throw new InvalidOperationException($"region {region} must appear exactly once as // <{region}> ... // </{region}>");
        }

        List<string> body = [.. lines[(starts[0] + 1)..ends[0]].Select(l => l.TrimEnd())];
        int cut = body.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart(' ').Length).DefaultIfEmpty(0).Min();
        body = [.. body.Select(l => l.Length >= cut ? l[cut..] : l)];
        while (body.Count > 0 && body[0].Length == 0)
        {
            body.RemoveAt(0);
        }

        while (body.Count > 0 && body[^1].Length == 0)
        {
            body.RemoveAt(body.Count - 1);
        }

        return usings.Count == 0 ? body : [.. usings, "", .. body];
    }

    private static IEnumerable<string> Readmes() =>
        [Path.Combine(Repo.Root, "README.md"), .. Directory.GetFiles(Path.Combine(Repo.Root, "packages"), "README.md", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(Path.GetDirectoryName(p)!).StartsWith("AsyncUtils.", StringComparison.Ordinal)
                        && Path.GetDirectoryName(Path.GetDirectoryName(p)) == Path.Combine(Repo.Root, "packages"))
            .Order(StringComparer.Ordinal)];

    private static IEnumerable<Block> Blocks(string readme)
    {
        string relative = Path.GetRelativePath(Repo.Root, readme).Replace(Path.DirectorySeparatorChar, '/');
        string[] lines = File.ReadAllText(readme).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp")
            {
                continue;
            }

            int end = i + 1;
            while (end < lines.Length && lines[end].Trim() != "```")
            {
                end++;
            }

            Match marker = i > 0 ? Marker().Match(lines[i - 1].Trim()) : Match.Empty;
            yield return new Block(
                relative,
                i + 1,
                marker.Success ? (marker.Groups["path"].Value, marker.Groups["region"].Value) : null,
                lines[(i + 1)..Math.Min(end, lines.Length)]);
            i = end;
        }
    }

    private static HashSet<string> Pending() =>
        File.ReadAllLines(Path.Combine(Repo.Root, PendingFile))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex(@"^<!-- snippet: (?<path>[^#\s]+)#(?<region>[A-Za-z0-9_]+) -->$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^using (static )?[A-Za-z_][A-Za-z0-9_.]*( = [A-Za-z_][A-Za-z0-9_.<>, ]*)?;$")]
    private static partial Regex UsingDirective();

    private sealed record Block(string Readme, int Line, (string Path, string Region)? Marker, IReadOnlyList<string> Lines);
}
