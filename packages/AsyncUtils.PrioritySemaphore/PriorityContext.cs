namespace AsyncUtils;

/// <summary>
/// The ambient priority of the current logical flow, read by every <see cref="PrioritySemaphore"/>
/// wait that is not given an explicit priority. Lower numbers are served first; the default is 0.
/// </summary>
/// <remarks>
/// The priority lives in an <see cref="AsyncLocal{T}"/>, so it flows into awaits, continuations and
/// tasks started inside the scope, and a scope entered inside an async method never leaks to its
/// caller. Scopes nest: disposing one restores the priority that was in effect when it was
/// entered. Dispose scopes in the reverse order of entering them (a <c>using</c> block does).
/// </remarks>
/// <example>
/// <code>
/// using (PriorityContext.Enter(-10))   // more important than the default 0
/// {
///     await semaphore.WaitAsync(ct);   // queued at priority -10
///     ...
/// }
/// </code>
/// </example>
public static class PriorityContext
{
    private static readonly AsyncLocal<int> Ambient = new();

    /// <summary>The priority in effect for the current logical flow; 0 outside any scope.</summary>
    public static int Current => Ambient.Value;

    /// <summary>Sets the priority for the current logical flow until the returned scope is disposed.</summary>
    /// <param name="priority">The priority; lower numbers are served first.</param>
    /// <returns>A scope whose disposal restores the previous priority.</returns>
    public static PriorityScope Enter(int priority)
    {
        int previous = Ambient.Value;
        Ambient.Value = priority;
        return new PriorityScope(previous);
    }

    internal static void Restore(int previous) => Ambient.Value = previous;
}
