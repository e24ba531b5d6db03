namespace AsyncUtils;

/// <summary>
/// Optional settings for <see cref="TaskGroup"/>. The group copies them when it is created;
/// changing the object afterwards has no effect.
/// </summary>
public sealed class TaskGroupOptions
{
    /// <summary>
    /// How long leaving the scope waits for the group's tasks before cancelling the group's
    /// token; it then keeps waiting until every task has finished its cleanup.
    /// <see cref="Timeout.InfiniteTimeSpan"/> (the default) never cancels.
    /// </summary>
    public TimeSpan ExitTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Opt-in: the first task that fails cancels the group's token, so its siblings stop. Off by
    /// default: a failing task never cancels its siblings.
    /// </summary>
    public bool FailFast { get; set; }

    /// <summary>The clock for <see cref="ExitTimeout"/>; <see langword="null"/> uses <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// A name for the group, added as the <c>asyncutils.task_group.name</c> tag to its metrics so
    /// that several groups can be told apart; <see langword="null"/> (the default) adds no tag.
    /// </summary>
    public string? Name { get; set; }
}
