using System.IO.Compression;
using System.Xml.Linq;

namespace AsyncUtils.Packaging.Tests;

/// <summary>What a test needs to know about one packed .nupkg and its .snupkg.</summary>
internal sealed class PackedPackage
{
    private PackedPackage(string id, string version, string path, XElement metadata, IReadOnlyList<string> entries)
    {
        Id = id;
        Version = version;
        Path = path;
        Metadata = metadata;
        Entries = entries;
    }

    public string Id { get; }

    public string Version { get; }

    public string Path { get; }

    public string SymbolsPath => System.IO.Path.ChangeExtension(Path, ".snupkg");

    public XElement Metadata { get; }

    public IReadOnlyList<string> Entries { get; }

    public string? Meta(string name) => Metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;

    public XElement? MetaElement(string name) => Metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name);

    /// <summary>Dependencies per target framework: "net8.0" -> ["Id Version", ...].</summary>
    public IReadOnlyDictionary<string, List<string>> Dependencies =>
        (MetaElement("dependencies")?.Elements() ?? [])
            .Where(g => g.Name.LocalName == "group")
            .ToDictionary(
                g => g.Attribute("targetFramework")!.Value,
                g => g.Elements().Select(d => $"{d.Attribute("id")!.Value} {d.Attribute("version")!.Value}").Order().ToList());

    public static PackedPackage Open(string path)
    {
        using ZipArchive zip = ZipFile.OpenRead(path);
        ZipArchiveEntry nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'));
        XDocument doc;
        using (Stream stream = nuspec.Open())
        {
            doc = XDocument.Load(stream);
        }

        XElement metadata = doc.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string id = metadata.Elements().Single(e => e.Name.LocalName == "id").Value;
        string version = metadata.Elements().Single(e => e.Name.LocalName == "version").Value;
        return new PackedPackage(id, version, path, metadata, [.. zip.Entries.Select(e => e.FullName)]);
    }
}
