namespace AsyncUtils;

/// <summary>
/// Carries a fault that no caller could observe: an exception thrown by work given to
/// <see cref="ThreadedLoop.Post(Action{CancellationToken})"/> or by an <see langword="async"/>
/// <see langword="void"/> method running on the loop.
/// </summary>
public sealed class ThreadedLoopExceptionEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="exception">The fault.</param>
    /// <exception cref="ArgumentNullException"><paramref name="exception"/> is <see langword="null"/>.</exception>
    public ThreadedLoopExceptionEventArgs(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        Exception = exception;
    }

    /// <summary>The exception the work threw.</summary>
    public Exception Exception { get; }
}
