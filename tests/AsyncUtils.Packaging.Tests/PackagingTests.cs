using System.Globalization;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;

namespace AsyncUtils.Packaging.Tests;

/// <summary>
/// Packs every package under packages/ into a temporary folder, checks what each .nupkg and
/// .snupkg holds, then builds and runs consumer apps against the packed packages: one that
/// references a single package (pick and choose) and one that references AsyncUtils.All.
/// </summary>
[NonParallelizable]
public sealed class PackagingTests
{
    private const string All = "AsyncUtils.All";
    private static readonly Guid SourceLinkGuid = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");
    private static readonly Guid EmbeddedSourceGuid = new("0E8A571B-6926-466E-B4AD-8AB04611F5FE");
    private static readonly string[] Frameworks = ["net8.0", "net10.0"];
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    private static readonly string RepoRoot = FindRepoRoot();

    /// <summary>The public GitHub address of the clone's origin remote, or null (a local path, no remote).</summary>
    private static readonly string? RepositoryUrl = PublicOriginUrl(RepoRoot);

    private string _workDir = "";
    private string _packagesDir = "";
    private Dictionary<string, PackedPackage> _packages = [];

    /// <summary>Every package folder under packages/ but the metapackage.</summary>
    public static IEnumerable<string> Members =>
        Directory.GetDirectories(Path.Combine(RepoRoot, "packages"))
            .Select(Path.GetFileName)
            .Where(name => name != All && File.Exists(Path.Combine(RepoRoot, "packages", name!, name + ".csproj")))
            .Order()!;

    /// <summary>
    /// The integration packages (Redis, HTTP, hosting, distributed caching): packed like every
    /// member, but not in AsyncUtils.All, whose csproj lists them.
    /// </summary>
    public static IReadOnlyList<string> Integrations { get; } =
        [.. XDocument.Load(Path.Combine(RepoRoot, "packages", All, All + ".csproj"))
            .Descendants("AsyncUtilsIntegrationPackage")
            .SelectMany(e => e.Attribute("Include")!.Value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Order(StringComparer.Ordinal)];

    /// <summary>The members AsyncUtils.All depends on: every member but the integration packages.</summary>
    public static IEnumerable<string> CoreMembers => Members.Except(Integrations);

    [OneTimeSetUp]
    public void PackEveryPackage()
    {
        _workDir = Directory.CreateTempSubdirectory("asyncutils-packaging-").FullName;
        _packagesDir = Path.Combine(_workDir, "packages");

        // A solution of just the package projects, packed in an isolated artifacts folder so the
        // build does not touch the repository's own bin/obj folders.
        string solution = Path.Combine(_workDir, "packages.slnx");
        File.WriteAllText(solution, new XmlSolution(
            Members.Append(All).Select(name => Path.Combine(RepoRoot, "packages", name, name + ".csproj"))).ToString());

        DotnetCli.RunOrFail(
            $"pack \"{solution}\" -c Release -o \"{_packagesDir}\" --artifacts-path \"{Path.Combine(_workDir, "artifacts")}\"",
            _workDir,
            BuildTimeout);

        _packages = Directory.GetFiles(_packagesDir, "*.nupkg")
            .Select(PackedPackage.Open)
            .ToDictionary(p => p.Id);
    }

    [OneTimeTearDown]
    public void DeleteWorkFolder()
    {
        try
        {
            Directory.Delete(_workDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is not a test failure.
        }
    }

    [Test]
    public void Every_member_and_the_metapackage_are_packed_once_and_every_member_has_a_symbol_package()
    {
        string[] expected = [.. Members.Append(All).Order()];
        Assert.That(_packages.Keys.Order(), Is.EqualTo(expected));
        Assert.That(Directory.GetFiles(_packagesDir, "*.nupkg"), Has.Length.EqualTo(expected.Length));
        Assert.That(
            Directory.GetFiles(_packagesDir, "*.snupkg").Select(f => Path.GetFileName(f)).Order(),
            Is.EqualTo(Members.Select(m => $"{m}.{_packages[m].Version}.snupkg").Order()));
    }

    [TestCaseSource(nameof(Members))]
    public void A_member_package_carries_readme_licence_xml_docs_for_both_frameworks_and_repository_metadata(string id)
    {
        PackedPackage package = _packages[id];
        using (Assert.EnterMultipleScope())
        {
            Assert.That(package.Entries, Does.Contain("README.md"));
            Assert.That(package.Entries, Does.Contain("LICENSE"));
            Assert.That(package.Meta("readme"), Is.EqualTo("README.md"));
            Assert.That(package.Meta("license"), Is.EqualTo("Apache-2.0"));
            Assert.That(package.MetaElement("license")?.Attribute("type")?.Value, Is.EqualTo("expression"));
            Assert.That(package.Meta("description"), Is.Not.Empty);
            Assert.That(package.Meta("authors"), Is.Not.Empty);
            Assert.That(package.Meta("tags"), Does.Contain("asyncutils"));

            XElement? repository = package.MetaElement("repository");
            Assert.That(repository?.Attribute("type")?.Value, Is.EqualTo("git"));
            Assert.That(repository?.Attribute("commit")?.Value, Does.Match("^[0-9a-f]{40}$"));
            if (RepositoryUrl is null)
            {
                // No public remote: no address is invented.
                Assert.That(repository?.Attribute("url"), Is.Null, "repository url without a public origin remote");
                Assert.That(package.MetaElement("projectUrl"), Is.Null, "projectUrl without a public origin remote");
            }
            else
            {
                Assert.That(repository?.Attribute("url")?.Value, Is.EqualTo(RepositoryUrl));
                Assert.That(package.Meta("projectUrl"), Is.EqualTo(RepositoryUrl));
            }

            foreach (string tfm in Frameworks)
            {
                Assert.That(package.Entries, Does.Contain($"lib/{tfm}/{id}.dll"));
                Assert.That(package.Entries, Does.Contain($"lib/{tfm}/{id}.xml"));
            }

            Assert.That(package.Entries.Where(e => e.StartsWith("lib/", StringComparison.Ordinal)), Has.Exactly(4).Items);
        }
    }

    [TestCaseSource(nameof(Members))]
    public void A_member_symbol_package_holds_portable_pdbs_with_source_link_to_the_repository_or_embedded_sources(string id)
    {
        using ZipArchive symbols = ZipFile.OpenRead(_packages[id].SymbolsPath);
        foreach (string tfm in Frameworks)
        {
            using MetadataReaderProvider provider = OpenPdb(symbols, $"lib/{tfm}/{id}.pdb");
            MetadataReader reader = provider.GetMetadataReader();
            string? sourceLink = reader.CustomDebugInformation
                .Select(reader.GetCustomDebugInformation)
                .Where(info => reader.GetGuid(info.Kind) == SourceLinkGuid)
                .Select(info => Encoding.UTF8.GetString(reader.GetBlobBytes(info.Value)))
                .SingleOrDefault();

            if (RepositoryUrl is null)
            {
                // Without a public repository the PDB carries every source file itself.
                Assert.That(sourceLink, Is.Null, $"{tfm}: Source Link without a public repository");
                var embedded = reader.Documents
                    .Select(d => reader.GetCustomDebugInformation(d).Select(reader.GetCustomDebugInformation).Any(i => reader.GetGuid(i.Kind) == EmbeddedSourceGuid))
                    .ToList();
                Assert.That(embedded, Is.Not.Empty.And.All.True, $"{tfm}: every document's source is embedded");
            }
            else
            {
                Assert.That(sourceLink, Is.Not.Null, $"{tfm}: no Source Link in the PDB");
                using JsonDocument json = JsonDocument.Parse(sourceLink!);
                string target = json.RootElement.GetProperty("documents").EnumerateObject().Single().Value.GetString()!;
                Assert.That(target, Does.StartWith(RepositoryUrl.Replace("https://github.com/", "https://raw.githubusercontent.com/", StringComparison.Ordinal) + "/"));
            }
        }
    }

    [TestCaseSource(nameof(Members))]
    public void A_member_package_packed_outside_CI_is_deterministic_with_no_build_path_in_its_dll_or_pdb(string id)
    {
        // The pack above runs without CI=true and without -p:ContinuousIntegrationBuild, as a
        // developer's release pack would: every path must still be mapped to /_/.
        using ZipArchive package = ZipFile.OpenRead(_packages[id].Path);
        using ZipArchive symbols = ZipFile.OpenRead(_packages[id].SymbolsPath);
        foreach (string tfm in Frameworks)
        {
            using var dll = new MemoryStream();
            using (Stream stream = package.GetEntry($"lib/{tfm}/{id}.dll")!.Open())
            {
                stream.CopyTo(dll);
            }

            dll.Position = 0;
            using var pe = new System.Reflection.PortableExecutable.PEReader(dll);
            var codeView = pe.ReadDebugDirectory().Single(e => e.Type == System.Reflection.PortableExecutable.DebugDirectoryEntryType.CodeView);
            string pdbPath = pe.ReadCodeViewDebugDirectoryData(codeView).Path;
            Assert.That(pdbPath, Does.StartWith("/_/"), $"{tfm}: the DLL names its PDB by a build path");
            Assert.That(pe.ReadDebugDirectory().Any(e => e.IsPortableCodeView), Is.True);

            using MetadataReaderProvider provider = OpenPdb(symbols, $"lib/{tfm}/{id}.pdb");
            MetadataReader reader = provider.GetMetadataReader();
            foreach (DocumentHandle handle in reader.Documents)
            {
                string name = reader.GetString(reader.GetDocument(handle).Name);
                Assert.That(name, Does.StartWith("/_/").And.Not.Contain(RepoRoot).And.Not.Contain(_workDir), $"{tfm}: a build path in the PDB");
            }
        }
    }

    private static MetadataReaderProvider OpenPdb(ZipArchive symbols, string entryName)
    {
        ZipArchiveEntry? pdb = symbols.GetEntry(entryName);
        Assert.That(pdb, Is.Not.Null, entryName);
        var buffer = new MemoryStream();
        using (Stream stream = pdb!.Open())
        {
            stream.CopyTo(buffer);
        }

        buffer.Position = 0;
        return MetadataReaderProvider.FromPortablePdbStream(buffer);
    }

    /// <summary>Reads the origin remote from .git/config; only https://github.com/owner/name (or git@github.com:owner/name) counts as public.</summary>
    private static string? PublicOriginUrl(string repoRoot)
    {
        string config = Path.Combine(repoRoot, ".git", "config");
        if (!File.Exists(config))
        {
            return null;
        }

        System.Text.RegularExpressions.Match origin = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(config), @"\[remote ""origin""\][^\[]*?\burl\s*=\s*(\S+)");
        System.Text.RegularExpressions.Match github = System.Text.RegularExpressions.Regex.Match(origin.Groups[1].Value, @"^(?:https://github\.com/|git@github\.com:)([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$");
        return github.Success ? $"https://github.com/{github.Groups[1].Value}/{github.Groups[2].Value}" : null;
    }

    [Test]
    public void Each_package_depends_on_exactly_what_it_needs_as_approved()
    {
        // Members' dependencies (AsyncUtils.All is checked below) against an approved text file.
        var received = new StringBuilder();
        foreach (string id in Members)
        {
            IReadOnlyDictionary<string, List<string>> groups = _packages[id].Dependencies;
            Assert.That(groups.Keys.Order(), Is.EqualTo(Frameworks.Order()).Or.Empty, $"{id} has dependency groups for other frameworks");
            var perFramework = Frameworks.Select(f => groups.TryGetValue(f, out List<string>? deps) ? deps : []).ToList();
            Assert.That(perFramework[1], Is.EqualTo(perFramework[0]), $"{id} depends on different packages per framework");
            received.AppendLine(CultureInfo.InvariantCulture, $"{id}: {(perFramework[0].Count == 0 ? "(none)" : string.Join(", ", perFramework[0].Select(Unversioned)))}");
        }

        string approvedPath = Path.Combine(RepoRoot, "tests", "AsyncUtils.Packaging.Tests", "approved", "dependencies.approved.txt");
        string approved = File.ReadAllText(approvedPath).ReplaceLineEndings("\n");
        string actual = received.ToString().ReplaceLineEndings("\n");
        if (actual != approved)
        {
            File.WriteAllText(Path.ChangeExtension(approvedPath, null).Replace(".approved", ".received", StringComparison.Ordinal) + ".txt", actual);
        }

        Assert.That(actual, Is.EqualTo(approved), "dependencies changed: review dependencies.received.txt and, if intended, make it the approved file");

        // A package that depends on a sibling depends on it at the sibling's current version.
        foreach (string id in Members)
        {
            foreach (string dependency in _packages[id].Dependencies.Values.SelectMany(d => d))
            {
                string[] parts = dependency.Split(' ');
                if (_packages.TryGetValue(parts[0], out PackedPackage? sibling))
                {
                    Assert.That(parts[1], Is.EqualTo(sibling.Version), $"{id} -> {parts[0]}");
                }
            }
        }
    }

    [Test]
    public void AsyncUtils_All_holds_no_assembly_and_depends_on_every_member_at_its_version()
    {
        PackedPackage all = _packages[All];
        string[] expected = [.. CoreMembers.Select(m => $"{m} {_packages[m].Version}").Order()];
        using (Assert.EnterMultipleScope())
        {
            Assert.That(all.Entries.Where(e => e.EndsWith(".dll", StringComparison.Ordinal)), Is.Empty);
            Assert.That(all.Entries, Does.Contain("README.md"));
            Assert.That(all.Dependencies.Keys.Order(), Is.EqualTo(Frameworks.Order()));
            foreach (string tfm in Frameworks)
            {
                Assert.That(all.Dependencies[tfm], Is.EqualTo(expected), tfm);
            }
        }
    }

    [Test]
    public void A_console_app_referencing_two_single_packages_restores_just_those_and_runs()
    {
        string app = CopySampleAndPointAtPackedPackages("AsyncUtils.Samples.PickAndChoose");
        string output = DotnetCli.RunOrFail("run -c Release", app, BuildTimeout);

        Assert.That(output, Does.Contain("Lru: a=1 b=-1 c=3"));
        Assert.That(output, Does.Contain("Lockout: Retry-After 120 capped to 30s, locked=True, entered=False"));
        Assert.That(output, Does.Contain("Loaded: AsyncUtils.Lockout, AsyncUtils.Lru"));
        Assert.That(RestoredLibraries(app), Is.EqualTo(new[] { "AsyncUtils.Lockout", "AsyncUtils.Lru" }), "single packages bring nothing else");
    }

    [Test]
    public void The_rate_limited_client_sample_builds_against_the_packed_packages_and_runs()
    {
        string app = CopySampleAndPointAtPackedPackages("AsyncUtils.Samples.RateLimitedClient");
        string output = DotnetCli.RunOrFail("run -c Release", app, BuildTimeout);

        Assert.That(output, Does.Contain("Requests sent: 19 (the server counted 19)."));
        Assert.That(output, Does.Contain("429s seen: 2 (the server sent 2)"));
        Assert.That(RestoredLibraries(app).Where(n => n.StartsWith("AsyncUtils.", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "AsyncUtils.Http", "AsyncUtils.Lockout", "AsyncUtils.Lru", "AsyncUtils.PrioritySemaphore", "AsyncUtils.RateLimiter", "AsyncUtils.TaskCache",
        }));
    }

    [Test]
    public void The_batch_writer_sample_builds_against_the_packed_packages_and_writes_every_record()
    {
        string app = CopySampleAndPointAtPackedPackages("AsyncUtils.Samples.BatchWriter");
        string output = DotnetCli.RunOrFail("run -c Release -- --seconds 2", app, BuildTimeout);

        Assert.That(output, Does.Contain("They agree: every record put was written."));
        Assert.That(RestoredLibraries(app).Where(n => n.StartsWith("AsyncUtils.", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "AsyncUtils.SignalService", "AsyncUtils.Waterfall",
        }));
    }

    [Test]
    public void A_console_app_referencing_only_AsyncUtils_All_restores_every_member_and_runs()
    {
        string app = CopySampleAndPointAtPackedPackages("AsyncUtils.Samples.Metapackage");
        string output = DotnetCli.RunOrFail("run -c Release", app, BuildTimeout);

        Assert.That(output, Does.Contain("All: hello from AsyncUtils.All"));

        string[] libraries = [.. RestoredLibraries(app).Where(n => n.StartsWith("AsyncUtils.", StringComparison.Ordinal))];
        Assert.That(libraries, Is.EqualTo(CoreMembers.Append(All).Order(StringComparer.Ordinal)));
    }

    [Test]
    public void Every_integration_package_AsyncUtils_All_leaves_out_exists_and_every_core_member_needs_nothing_from_Microsoft_Extensions_or_Redis()
    {
        Assert.That(Integrations, Is.Not.Empty);
        using (Assert.EnterMultipleScope())
        {
            foreach (string id in Integrations)
            {
                Assert.That(Members, Does.Contain(id), $"{id} is listed in AsyncUtils.All.csproj but is no package");
            }

            foreach (string id in CoreMembers)
            {
                foreach (string tfm in Frameworks)
                {
                    Assert.That(
                        (_packages[id].Dependencies.TryGetValue(tfm, out List<string>? deps) ? deps : []).Where(d => d.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) || d.StartsWith("StackExchange.Redis", StringComparison.Ordinal)),
                        Is.Empty,
                        $"{id} ({tfm}) is in AsyncUtils.All but depends on an integration library: list it in AsyncUtils.All.csproj");
                }
            }
        }
    }

    /// <summary>The package ids a restored app's project.assets.json lists, sorted.</summary>
    private static string[] RestoredLibraries(string app)
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "obj", "project.assets.json")));
        return [.. json.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).Order(StringComparer.Ordinal)];
    }

    /// <summary>The central version of a third-party package, from Directory.Packages.props.</summary>
    private static string CentralVersion(string id) =>
        XDocument.Load(Path.Combine(RepoRoot, "Directory.Packages.props")).Descendants("PackageVersion")
            .Single(e => e.Attribute("Include")?.Value == id).Attribute("Version")!.Value;

    /// <summary>A sibling's version is checked against the sibling itself, so the approved file names it without one.</summary>
    private string Unversioned(string dependency)
    {
        string id = dependency.Split(' ')[0];
        return _packages.ContainsKey(id) ? id : dependency;
    }

    /// <summary>
    /// Copies a sample (sources and csproj only) next to the packed packages, with a
    /// Directory.Build.props that switches it to package references at the packed versions and a
    /// nuget.config that adds the packed folder and an isolated global packages folder.
    /// </summary>
    private string CopySampleAndPointAtPackedPackages(string sample)
    {
        string source = Path.Combine(RepoRoot, "samples", sample);
        string app = Path.Combine(_workDir, "apps", sample);
        Directory.CreateDirectory(app);
        foreach (string file in Directory.GetFiles(source).Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal)))
        {
            File.Copy(file, Path.Combine(app, Path.GetFileName(file)));
        }

        string versions = string.Concat(_packages.Values.Select(p =>
            $"    <{p.Id.Replace(".", "", StringComparison.Ordinal)}Version>{p.Version}</{p.Id.Replace(".", "", StringComparison.Ordinal)}Version>\n"))
            + $"    <MicrosoftDataSqliteVersion>{CentralVersion("Microsoft.Data.Sqlite")}</MicrosoftDataSqliteVersion>\n";
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), $"""
            <Project>
              <PropertyGroup>
                <UsePackedPackages>true</UsePackedPackages>
            {versions}  </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Directory.Packages.props"), "<Project />");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(_workDir, "nuget-cache")}" />
              </config>
              <packageSources>
                <add key="packed" value="{_packagesDir}" />
              </packageSources>
            </configuration>
            """);
        return app;
    }

    private static string FindRepoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AsyncUtils.Packages.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No AsyncUtils.Packages.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>The .slnx text for a set of project paths.</summary>
    private sealed class XmlSolution(IEnumerable<string> projects)
    {
        public override string ToString() =>
            "<Solution>\n" + string.Concat(projects.Select(p => $"  <Project Path=\"{p}\" />\n")) + "</Solution>\n";
    }
}
