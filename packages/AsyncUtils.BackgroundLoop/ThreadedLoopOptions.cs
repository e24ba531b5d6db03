namespace AsyncUtils.BackgroundLoop;

/// <summary>
/// Optional settings for <see cref="ThreadedLoop"/>. The loop copies them when it is created;
/// changing the object afterwards has no effect.
/// </summary>
public sealed class ThreadedLoopOptions
{
    /// <summary>The loop thread's name, shown in debuggers and dumps; <see langword="null"/> uses <c>"AsyncUtils.ThreadedLoop"</c>.</summary>
    public string? ThreadName { get; set; }

    /// <summary>
    /// How long disposal waits for outstanding work to finish on its own before cancelling its
    /// tokens. <see cref="Timeout.InfiniteTimeSpan"/> (the default) waits as long as it takes;
    /// <see cref="TimeSpan.Zero"/> cancels at once.
    /// </summary>
    public TimeSpan DisposeTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// After disposal has cancelled the tokens of work that is still running, how long it lets
    /// that work unwind (run its cleanup on the loop) before the loop stops. Work still unfinished
    /// then is abandoned: its continuations never run and its task ends as cancelled. Five
    /// seconds by default; <see cref="Timeout.InfiniteTimeSpan"/> waits as long as it takes.
    /// </summary>
    public TimeSpan CancellationGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock for the timeouts above and for <c>WaitAll</c>; <see langword="null"/> uses <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }
}
