using System.Net;
using System.Text.RegularExpressions;

namespace AsyncUtils.Docs.Tests;

/// <summary>Debian's headless Chromium: dumps a page's DOM after load and takes screenshots.</summary>
internal static partial class Chromium
{
    public const string Path = "/usr/bin/chromium";

    public const string InstallHint =
        "Chromium is not installed at /usr/bin/chromium. Install it with `apt-get update && apt-get install -y chromium` (as root), then run the docs tests again.";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    /// <summary>Fails the calling test with how to install the browser when it is missing.</summary>
    public static void Require()
    {
        if (!File.Exists(Path))
        {
            Assert.Fail(InstallHint);
        }
    }

    /// <summary>The page's DOM after load, as HTML.</summary>
    public static string DumpDom(string url) => RunBrowser(["--dump-dom", url]);

    /// <summary>Saves a 1280x900 screenshot of the page.</summary>
    public static void Screenshot(string url, string pngPath)
    {
        File.Delete(pngPath);
        RunBrowser([$"--screenshot={pngPath}", "--window-size=1280,900", url]);
        if (!File.Exists(pngPath))
        {
            Assert.Fail($"Chromium wrote no screenshot to {pngPath}.");
        }
    }

    /// <summary>The page's visible text: tags removed (syntax highlighting splits code into spans), entities decoded, whitespace collapsed.</summary>
    public static string TextOf(string html)
    {
        string withoutScripts = ScriptOrStyle().Replace(html, " ");
        string text = WebUtility.HtmlDecode(Tag().Replace(withoutScripts, ""));
        return Whitespace().Replace(text, " ");
    }

    private static string RunBrowser(string[] arguments)
    {
        string profile = Directory.CreateTempSubdirectory("asyncutils-docs-chromium-").FullName;
        try
        {
            string[] common =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                $"--user-data-dir={profile}",
                // Let the page's scripts (table of contents, syntax highlighting) finish before the dump or screenshot.
                "--virtual-time-budget=5000",
            ];
            (int exit, string output) = ProcessRunner.Run(Path, [.. common, .. arguments], Repo.Root, Timeout);
            if (exit != 0)
            {
                Assert.Fail($"chromium exited with {exit}:\n{output}");
            }

            return output;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
                // A helper process may still hold a file for a moment; the temp folder is cleaned later.
            }
        }
    }

    [GeneratedRegex(@"<(script|style)\b.*?</\1>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex ScriptOrStyle();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
