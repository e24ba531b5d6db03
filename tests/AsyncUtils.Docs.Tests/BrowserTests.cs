namespace AsyncUtils.Docs.Tests;

/// <summary>
/// Opens built pages in a real browser (headless Chromium) from a local static server and checks
/// that each renders its title and its code sample; saves a screenshot of each under
/// artifacts/docs-screenshots/.
/// </summary>
[NonParallelizable]
public sealed class BrowserTests
{
    public static IEnumerable<TestCaseData> Pages()
    {
        yield return new TestCaseData("index.html", "AsyncUtils", "dotnet add package AsyncUtils.Lru", "landing")
            .SetName("Landing_page_renders_with_its_install_commands");
        yield return new TestCaseData("packages/Lru.html", "AsyncUtils.Lru", "var cache = new LruCache<string, string>(capacity: 2);", "package-lru")
            .SetName("Package_page_renders_with_its_compiled_sample");
        yield return new TestCaseData("packages/RateLimiter.html", "AsyncUtils.RateLimiter", "using var limiter = new SlidingLogRateLimiter(", "package-ratelimiter")
            .SetName("Package_page_with_long_code_lines_renders_them_wrapped");
        yield return new TestCaseData("api/AsyncUtils.LruCache-2.html", "Class LruCache<TKey, TValue>", "public sealed class LruCache<TKey, TValue>", "api-lrucache")
            .SetName("API_page_renders_with_its_declaration");
    }

    [TestCaseSource(nameof(Pages))]
    public void Page_renders_in_chromium(string page, string title, string codeSample, string screenshotName)
    {
        Chromium.Require();
        SiteBuild.Require();
        Directory.CreateDirectory(Repo.Screenshots);

        using var server = new StaticFileServer(Repo.Site);
        string url = server.BaseUrl + page;

        string text = Chromium.TextOf(Chromium.DumpDom(url));
        string screenshot = Path.Combine(Repo.Screenshots, screenshotName + ".png");
        Chromium.Screenshot(url, screenshot);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Does.Contain(title), $"{url} does not show its title");
            Assert.That(text, Does.Contain(codeSample), $"{url} does not show its code sample");
            Assert.That(new FileInfo(screenshot).Length, Is.GreaterThan(10_000), "the screenshot looks empty");
        }

        TestContext.Out.WriteLine($"{url}: screenshot {screenshot}");
    }
}
