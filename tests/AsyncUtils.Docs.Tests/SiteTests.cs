namespace AsyncUtils.Docs.Tests;

public sealed class SiteTests
{
    [Test]
    public void Site_builds_with_warnings_as_errors_into_artifacts_docs()
    {
        (bool succeeded, string log) = SiteBuild.Get();

        Assert.That(succeeded, Is.True, log);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(File.Exists(Path.Combine(Repo.Site, "index.html")), Is.True, "landing page");
            Assert.That(File.Exists(Path.Combine(Repo.Site, "api", "AsyncUtils.LruCache-2.html")), Is.True, "API reference");
            foreach (string name in Repo.PackageNames())
            {
                Assert.That(File.Exists(Path.Combine(Repo.Site, "packages", name + ".html")), Is.True, $"page of AsyncUtils.{name}");
            }
        }
    }

    [Test]
    public void Every_package_has_a_page_listed_in_the_table_of_contents_and_on_the_landing_page()
    {
        string toc = File.ReadAllText(Path.Combine(Repo.Docs, "packages", "toc.yml"));
        string landing = File.ReadAllText(Path.Combine(Repo.Docs, "index.md"));

        Assert.That(Repo.PackageNames(), Is.Not.Empty);
        using (Assert.EnterMultipleScope())
        {
            foreach (string name in Repo.PackageNames())
            {
                Assert.That(File.Exists(Path.Combine(Repo.Docs, "packages", name + ".md")), Is.True, $"docs/packages/{name}.md is missing: add a page for the new package AsyncUtils.{name}");
                Assert.That(toc, Does.Contain($"href: {name}.md"), $"docs/packages/toc.yml does not list {name}.md");
                Assert.That(landing, Does.Contain($"(packages/{name}.md)"), $"docs/index.md's package table does not link packages/{name}.md");
            }
        }
    }

    [Test]
    public void Every_package_page_shows_a_compiled_snippet_and_a_performance_section()
    {
        using (Assert.EnterMultipleScope())
        {
            foreach (string name in Repo.PackageNames())
            {
                string path = Path.Combine(Repo.Docs, "packages", name + ".md");
                if (!File.Exists(path))
                {
                    continue; // reported by the test above
                }

                string page = File.ReadAllText(path);
                Assert.That(page, Does.Contain("## Performance"), $"{name}.md has no Performance section");
                Assert.That(page, Does.Contain("[!code-csharp[](../snippets/"), $"{name}.md shows no compiled snippet");
            }
        }
    }
}
