namespace AsyncUtils.Samples.Tour;

/// <summary>
/// The tour's table of contents. Each package's tour file registers its section from a module
/// initializer, so adding a package adds its section without editing the program.
/// </summary>
internal static class TourSections
{
    private static readonly List<(int Order, string Package, Func<Task> Run)> Sections = [];

    /// <summary>Registers a section; <paramref name="order"/> follows the package table in README.md.</summary>
    public static void Add(int order, string package, Func<Task> run) => Sections.Add((order, package, run));

    public static IReadOnlyList<(int Order, string Package, Func<Task> Run)> All =>
        [.. Sections.OrderBy(s => s.Order)];
}
