using Microsoft.Extensions.Logging;

namespace AsyncUtils;

/// <summary>
/// What the registrations log, through source-generated <see cref="LoggerMessage"/> methods.
/// Every public method here swallows what the logger throws: a faulty logger or provider must
/// never break a primitive, lose an item or stop a shutdown (the events' own handlers run inside
/// the primitives' delivery paths).
/// </summary>
internal static partial class Log
{
    /// <summary>The name used in messages for an instance registered without a name.</summary>
    public const string DefaultName = "(default)";

    public static string NameOf(string? name) => name ?? DefaultName;

    public static void CallbackFailed(ILogger logger, string? name, int count, WaterfallFlushReason reason, Exception exception)
    {
#pragma warning disable CA1031 // A logger must not break the primitive it reports on.
        try
        {
            CallbackFailedCore(logger, NameOf(name), count, reason, exception);
        }
        catch (Exception)
        {
        }
    }

    public static void LoopUnhandledException(ILogger logger, string? name, Exception exception)
    {
        try
        {
            LoopUnhandledExceptionCore(logger, NameOf(name), exception);
        }
        catch (Exception)
        {
        }
    }

    public static void HandlerFailed(ILogger logger, string? name, Exception exception)
    {
        try
        {
            HandlerFailedCore(logger, NameOf(name), exception);
        }
        catch (Exception)
        {
        }
    }

    public static void TaskFaulted(ILogger logger, string? name, Exception exception)
    {
        try
        {
            TaskFaultedCore(logger, NameOf(name), exception);
        }
        catch (Exception)
        {
        }
    }

    public static void StopTimedOut(ILogger logger, string component, string? name, string detail)
    {
        try
        {
            StopTimedOutCore(logger, component, NameOf(name), detail);
        }
        catch (Exception)
        {
        }
    }

    public static void StopFailed(ILogger logger, string component, string? name, Exception exception)
    {
        try
        {
            StopFailedCore(logger, component, NameOf(name), exception);
        }
        catch (Exception)
        {
        }
    }

    public static void PendingNotDelivered(ILogger logger, string? name, int count)
    {
        try
        {
            PendingNotDeliveredCore(logger, NameOf(name), count);
        }
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    [LoggerMessage(EventId = 1, EventName = "WaterfallCallbackFailed", Level = LogLevel.Error,
        Message = "Waterfall {Name}: the callback failed for a batch of {Count} items (flushed by {Reason}); the waterfall goes on with the next batch.")]
    private static partial void CallbackFailedCore(ILogger logger, string name, int count, WaterfallFlushReason reason, Exception exception);

    [LoggerMessage(EventId = 2, EventName = "ThreadedLoopUnhandledException", Level = LogLevel.Error,
        Message = "ThreadedLoop {Name}: posted work failed; the loop goes on.")]
    private static partial void LoopUnhandledExceptionCore(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 3, EventName = "SchedulerHandlerFailed", Level = LogLevel.Error,
        Message = "PayloadScheduler {Name}: the handler failed for a due payload; the consumer goes on with the next one.")]
    private static partial void HandlerFailedCore(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 4, EventName = "TaskGroupTaskFaulted", Level = LogLevel.Error,
        Message = "TaskGroup {Name}: a task failed.")]
    private static partial void TaskFaultedCore(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 5, EventName = "StopTimedOut", Level = LogLevel.Error,
        Message = "{Component} {Name} did not finish stopping within the host's shutdown timeout: {Detail}")]
    private static partial void StopTimedOutCore(ILogger logger, string component, string name, string detail);

    [LoggerMessage(EventId = 6, EventName = "StopFailed", Level = LogLevel.Error,
        Message = "{Component} {Name}: stopping it failed.")]
    private static partial void StopFailedCore(ILogger logger, string component, string name, Exception exception);

    [LoggerMessage(EventId = 7, EventName = "SchedulerPendingNotDelivered", Level = LogLevel.Warning,
        Message = "PayloadScheduler {Name}: {Count} scheduled payloads were not yet due when the host stopped and were not delivered (set DeliverPendingOnStop to wait for them).")]
    private static partial void PendingNotDeliveredCore(ILogger logger, string name, int count);
}
