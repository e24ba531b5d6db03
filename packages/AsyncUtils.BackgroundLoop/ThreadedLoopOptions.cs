namespace AsyncUtils;

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
    /// tokens. <see cref="Timeout.InfiniteTimeSpan"/> (the default) waits as long as it takes
    /// (so loop work that itself waits for the disposal waits forever: see <see cref="ThreadedLoop"/>);
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

    /// <summary>
    /// Supplies the <see cref="SynchronizationContext"/> that loop work sees as
    /// <see cref="SynchronizationContext.Current"/> (the equivalent of the Python library
    /// async-utils' <c>loop_factory</c>); <see langword="null"/> (the default) keeps the loop's own.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The loop is a queue that its thread drains; the factory cannot replace that queue (the
    /// loop's ordering, cancellation and disposal guarantees depend on it), it decorates it. It is
    /// called once, on the loop thread before any work runs, with the loop's own context, whose
    /// <see cref="SynchronizationContext.Post"/> queues to the loop. The context it returns is
    /// made current while each scheduled or posted function runs. For every continuation of that
    /// work to stay on the loop, the returned context must: hand every
    /// <see cref="SynchronizationContext.Post"/> and <see cref="SynchronizationContext.Send"/>
    /// callback to the loop's context it was given (a context that runs callbacks elsewhere, on
    /// the thread pool say, moves the work off the loop); make itself current while running such a
    /// callback (otherwise the awaits after the first see the loop's own context); and return
    /// itself from <see cref="SynchronizationContext.CreateCopy"/>. Returning the given context
    /// unchanged is allowed.
    /// </para>
    /// <para>
    /// If the factory throws, or returns <see langword="null"/>, the <see cref="ThreadedLoop"/>
    /// constructor throws <see cref="InvalidOperationException"/> (the factory's exception as its
    /// <see cref="Exception.InnerException"/>); the loop thread has ended by then and nothing is
    /// left to dispose.
    /// </para>
    /// </remarks>
    public Func<SynchronizationContext, SynchronizationContext>? SynchronizationContextFactory { get; set; }
}
