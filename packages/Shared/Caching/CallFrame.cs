namespace AsyncUtils.Shared.Caching;

/// <summary>
/// Marks a cached call as being computed in the current asynchronous flow, so that a function
/// that asks for its own key (directly or through other keys) is told so instead of waiting for
/// itself forever. Each call owns one frame; while its function runs, the flow's current frame is
/// that frame, linked to the frames of the calls that flow was already computing. The marker flows
/// into the function (and everything it awaits or starts) through an <see cref="AsyncLocal{T}"/>,
/// and is taken off again before control returns to the caller that started the call. A frame
/// holds no key and no result, so a flow that lives on (a timer, a background loop started by the
/// function) keeps nothing of the cache reachable but a chain of these small objects.
/// Only a caller about to join a call in flight looks at it: a hit never does.
/// </summary>
internal sealed class CallFrame
{
    private static readonly AsyncLocal<CallFrame?> s_current = new();

    private readonly CallFrame? _caller;

    /// <summary>Creates the frame of a call started in the current flow.</summary>
    internal CallFrame() => _caller = s_current.Value;

    /// <summary>True when the current flow is computing the call that owns <paramref name="frame"/>.</summary>
    internal static bool IsComputing(CallFrame frame)
    {
        for (CallFrame? current = s_current.Value; current is not null; current = current._caller)
        {
            if (ReferenceEquals(current, frame))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Makes this frame the flow's current one, for the function's run; returns the frame to restore.</summary>
    internal CallFrame? Enter()
    {
        CallFrame? previous = s_current.Value;
        s_current.Value = this;
        return previous;
    }

    /// <summary>Restores the frame <see cref="Enter"/> returned, so that the marker does not leak to the caller.</summary>
    internal static void Exit(CallFrame? previous) => s_current.Value = previous;
}
