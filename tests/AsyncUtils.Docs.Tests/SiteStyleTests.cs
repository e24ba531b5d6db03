namespace AsyncUtils.Docs.Tests;

/// <summary>
/// The site's own look: our logo and favicon instead of DocFX's defaults, and code blocks that wrap
/// long lines (docs/template/public/main.css) rather than cut them off. The RateLimiter page's
/// screenshot (BrowserTests) shows both.
/// </summary>
public sealed class SiteStyleTests
{
    [Test]
    public void Pages_show_our_logo_and_favicon_not_docfx_defaults()
    {
        SiteBuild.Require();
        string page = File.ReadAllText(Path.Combine(Repo.Site, "packages", "RateLimiter.html"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(page, Does.Contain("src=\"../images/logo.svg\""), "the navbar logo");
            Assert.That(page, Does.Contain("<link rel=\"icon\" href=\"../images/favicon.svg\">"), "the favicon");
            Assert.That(File.Exists(Path.Combine(Repo.Site, "images", "logo.svg")), Is.True, "logo.svg is copied to the site");
            Assert.That(File.Exists(Path.Combine(Repo.Site, "images", "favicon.svg")), Is.True, "favicon.svg is copied to the site");
            Assert.That(page, Does.Not.Contain("src=\"../logo.svg\""), "DocFX's default logo (logo.svg at the site root) is not used");
        }
    }

    [Test]
    public void Code_blocks_wrap_long_lines()
    {
        SiteBuild.Require();
        string css = File.ReadAllText(Path.Combine(Repo.Site, "public", "main.css"));

        Assert.That(css, Does.Contain("white-space: pre-wrap").And.Contain("article pre > code"),
            "the site's main.css (from docs/template/public) wraps code blocks");
    }
}
