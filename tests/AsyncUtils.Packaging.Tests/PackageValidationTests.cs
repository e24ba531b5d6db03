using System.Globalization;

namespace AsyncUtils.Packaging.Tests;

/// <summary>
/// Package validation bites: a binary break against the previous release fails the pack. A copy
/// of the build setup and of AsyncUtils.Lockout is packed in a temporary folder (so the repository
/// is never touched), then packed again with a parameter added to <c>Lockout.LockFor</c>, the kind
/// of change the public API files alone let through once they are updated to match.
/// </summary>
[NonParallelizable]
public sealed class PackageValidationTests
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    [Test]
    public void Every_member_package_is_validated_against_its_previous_release_kept_in_build_baselines()
    {
        foreach (string id in PackagingTests.Members)
        {
            string csproj = File.ReadAllText(Path.Combine(Repo.Root, "packages", id, id + ".csproj"));
            System.Text.RegularExpressions.Match baseline = System.Text.RegularExpressions.Regex.Match(csproj, "<PackageValidationBaselineVersion>([^<]+)</PackageValidationBaselineVersion>");
            if (!baseline.Success)
            {
                // Only a package never released may go without a baseline: its CHANGELOG has no released version yet.
                string changelog = File.ReadAllText(Path.Combine(Repo.Root, "packages", id, "CHANGELOG.md"));
                var released = System.Text.RegularExpressions.Regex.Matches(changelog, @"^## (?!Unreleased)(?!.*\(unreleased\)).+$", System.Text.RegularExpressions.RegexOptions.Multiline);
                Assert.That(released, Is.Empty, $"{id} was released ({string.Join(", ", released.Select(m => m.Value))}) but names no PackageValidationBaselineVersion");
                continue;
            }

            Assert.That(File.Exists(Path.Combine(Repo.Root, "build", "baselines", $"{id}.{baseline.Groups[1].Value}.nupkg")), Is.True, $"{id}: no baseline package {baseline.Groups[1].Value} in build/baselines");
        }
    }

    [Test]
    public void A_member_removed_from_the_previous_release_fails_the_pack_with_CP0002()
    {
        string work = Directory.CreateTempSubdirectory("asyncutils-validation-").FullName;
        try
        {
            string copy = Path.Combine(work, "repo");
            foreach (string file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json", "nuget.config", "LICENSE" })
            {
                Directory.CreateDirectory(copy);
                File.Copy(Path.Combine(Repo.Root, file), Path.Combine(copy, file));
            }

            CopyDirectory(Path.Combine(Repo.Root, "build"), Path.Combine(copy, "build"));
            CopyDirectory(Path.Combine(Repo.Root, "packages", "AsyncUtils.Lockout"), Path.Combine(copy, "packages", "AsyncUtils.Lockout"));
            CopyDirectory(Path.Combine(Repo.Root, "packages", "Shared"), Path.Combine(copy, "packages", "Shared"));
            Git(copy, "init -q");
            Git(copy, "add -A");
            Git(copy, "-c user.name=test -c user.email=test@localhost commit -q -m copy");

            // The unchanged package packs: it passes validation against the real previous release.
            string project = Path.Combine(copy, "packages", "AsyncUtils.Lockout", "AsyncUtils.Lockout.csproj");
            string released = Path.Combine(work, "released");
            DotnetCli.RunOrFail($"pack \"{project}\" -c Release -o \"{released}\"", copy, BuildTimeout);
            string baseline = Directory.GetFiles(released, "AsyncUtils.Lockout.*.nupkg").Single();

            // Change a released member's signature, and the API file with it (so only validation can object).
            string source = Path.Combine(copy, "packages", "AsyncUtils.Lockout", "Lockout.cs");
            string code = File.ReadAllText(source);
            Assert.That(code, Does.Contain("public void LockFor(TimeSpan duration)"));
            File.WriteAllText(source, code.Replace(
                "public void LockFor(TimeSpan duration)",
                "/// <param name=\"onlyLater\">Added by the test.</param>\n    public void LockFor(TimeSpan duration, bool onlyLater = true)",
                StringComparison.Ordinal));
            string api = Path.Combine(copy, "packages", "AsyncUtils.Lockout", "PublicAPI.Unshipped.txt");
            string apiText = File.ReadAllText(api);
            Assert.That(apiText, Does.Contain("AsyncUtils.Lockout.LockFor(System.TimeSpan duration) -> void"));
            File.WriteAllText(api, apiText.Replace(
                "AsyncUtils.Lockout.LockFor(System.TimeSpan duration) -> void",
                "AsyncUtils.Lockout.LockFor(System.TimeSpan duration, bool onlyLater = true) -> void",
                StringComparison.Ordinal));

            (int exitCode, string output) = DotnetCli.Run(
                string.Create(CultureInfo.InvariantCulture, $"pack \"{project}\" -c Release -o \"{Path.Combine(work, "broken")}\" -p:VersionPrefix=9.9.9 -p:PackageValidationBaselinePath=\"{baseline}\""),
                copy,
                BuildTimeout);

            Assert.That(exitCode, Is.Not.Zero, "the pack with a broken API succeeded:\n" + output);
            Assert.That(output, Does.Contain("CP0002").And.Contain("LockFor"), output);
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary folder is not a test failure.
            }
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (string dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, dir);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            {
                continue;
            }

            Directory.CreateDirectory(Path.Combine(to, relative));
        }

        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            {
                continue;
            }

            File.Copy(file, Path.Combine(to, relative));
        }
    }

    private static void Git(string directory, string arguments)
    {
        var info = new System.Diagnostics.ProcessStartInfo("git", arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(info)!;
        string error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(60_000), Is.True, $"git {arguments} did not finish");
        Assert.That(process.ExitCode, Is.Zero, $"git {arguments}: {error}");
    }

    private static class Repo
    {
        public static string Root { get; } = Find();

        private static string Find()
        {
            for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "AsyncUtils.Packages.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("No AsyncUtils.Packages.sln above the test folder.");
        }
    }
}
