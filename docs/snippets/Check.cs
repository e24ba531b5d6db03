namespace AsyncUtils.Docs.Snippets;

/// <summary>Lets a snippet verify what it just showed, outside its tagged region, so a run that
/// does not behave as the page says fails the docs tests.</summary>
internal static class Check
{
    public static void That(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("Documentation sample did not behave as documented: " + what);
        }
    }
}
