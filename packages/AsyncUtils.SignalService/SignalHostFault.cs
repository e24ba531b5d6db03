using System.Globalization;

namespace AsyncUtils;

/// <summary>
/// One thing that went wrong during a <see cref="SignalHost"/>'s run: a startup job, reload
/// callback, shutdown callback or join that threw, or a step that missed its deadline (then
/// <see cref="Exception"/> is a <see cref="TimeoutException"/>). The host records the fault and
/// goes on with the next step; <see cref="SignalHostResult.Faults"/> lists them in the order they happened.
/// </summary>
public sealed class SignalHostFault
{
    internal SignalHostFault(SignalHostPhase phase, int index, Exception exception)
    {
        Phase = phase;
        Index = index;
        Exception = exception;
    }

    /// <summary>Which kind of step failed.</summary>
    public SignalHostPhase Phase { get; }

    /// <summary>
    /// The failed step's position, counting from 0 in the order that kind of step was added (the
    /// third join added is 2); -1 where <see cref="Phase"/> has no order.
    /// </summary>
    public int Index { get; }

    /// <summary>
    /// What the step threw (unwrapped when its task faulted with a single exception), or a
    /// <see cref="TimeoutException"/> saying which deadline was missed.
    /// </summary>
    public Exception Exception { get; }

    /// <summary>For logs: <c>Join 2: TimeoutException: ...</c>.</summary>
    /// <returns>A one-line description.</returns>
    public override string ToString() => Index >= 0
        ? string.Create(CultureInfo.InvariantCulture, $"{Phase} {Index}: {Exception.GetType().Name}: {Exception.Message}")
        : string.Create(CultureInfo.InvariantCulture, $"{Phase}: {Exception.GetType().Name}: {Exception.Message}");
}
