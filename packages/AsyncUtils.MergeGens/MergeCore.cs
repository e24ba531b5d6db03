using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// The machinery of one enumeration of a merge: the sources' enumerators, a queue of the sources whose
/// step has finished (in the order they finished), and a reusable signal the consumer waits on.
/// </summary>
/// <remarks>
/// <para>
/// Every source is in one of three places: its step is in flight (counted by <see cref="_inFlight"/>),
/// its finished step waits in the ready queue, or the consumer holds the item it gave and will start
/// its next step at the consumer's next <c>MoveNextAsync</c> (the derived class keeps those). A source
/// is never in two places, so at most one step per source is ever pending, and the ready queue never
/// holds more entries than there are sources.
/// </para>
/// <para>
/// Only the consumer's flow (its <c>MoveNextAsync</c> and <c>DisposeAsync</c>, never concurrent)
/// touches the sources and the fields that are not under <see cref="_gate"/>. A step's completion
/// callback only puts its source in the ready queue and, when the consumer waits, completes the signal
/// outside the lock; the signal runs the consumer's continuation on the thread pool, so neither the
/// consumer's code nor a source's next step ever runs inside another source's completion.
/// </para>
/// </remarks>
/// <typeparam name="T">The item type.</typeparam>
internal abstract class MergeCore<T> : IValueTaskSource
{
    private const string FailedMessage = "One or more merged sources failed.";
    private const string DisposeFailedMessage = "One or more merged sources failed while being disposed.";

    private readonly IAsyncEnumerable<T>[] _sequences;
    private readonly MergeSource<T>[] _sources;
    private readonly int[] _ready;
    private readonly object _gate = new();
    private readonly CancellationToken _cancellationToken;
    private readonly MergeErrorMode _errorMode;
    private ManualResetValueTaskSourceCore<bool> _signal = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenSource? _sourcesCancellation;
    private CancellationTokenRegistration _registration;
    private int _readyHead;
    private int _readyCount;
    private int _inFlight;
    private bool _waiting;
    private bool _waitCancellable;
    private bool _cancelled;
    private int _open;
    private List<Exception>? _delayed;
    private Phase _phase;
    private bool _moving;

    /// <summary>How many times the consumer-token callback ran (tests: a leaked registration shows up here).</summary>
    internal int CancellationCallbacks;

    protected MergeCore(IAsyncEnumerable<T>[] sequences, MergeErrorMode errorMode, CancellationToken cancellationToken)
    {
        _sequences = sequences;
        _errorMode = errorMode;
        _cancellationToken = cancellationToken;
        _sources = new MergeSource<T>[sequences.Length];
        _ready = new int[sequences.Length];
    }

    private enum Phase
    {
        NotStarted,
        Running,
        Done,
    }

    protected enum Outcome
    {
        Item,
        Ended,
        Failed,
    }

    protected bool IsNotStarted => _phase == Phase.NotStarted;

    protected int OpenSources => _open;

    protected CancellationToken CancellationToken => _cancellationToken;

    void IValueTaskSource.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);

    /// <summary>Called by a source's step when it finishes asynchronously.</summary>
    internal void StepCompleted(MergeSource<T> source) => Ready(source, wasInFlight: true);

    /// <summary>The consumer's <c>MoveNextAsync</c> begins: <see langword="false"/> when the merge is over.</summary>
    /// <exception cref="InvalidOperationException">The previous <c>MoveNextAsync</c> has not completed.</exception>
    protected bool EnterStep()
    {
        if (_moving)
        {
            throw new InvalidOperationException("MoveNextAsync was called before the previous call completed.");
        }

        if (_phase == Phase.Done)
        {
            return false;
        }

        _moving = true;
        return true;
    }

    protected void ExitStep() => _moving = false;

    /// <exception cref="InvalidOperationException">A <c>MoveNextAsync</c> has not completed.</exception>
    protected void ThrowIfMoving()
    {
        if (_moving)
        {
            throw new InvalidOperationException("DisposeAsync was called while a MoveNextAsync was in progress.");
        }
    }

    /// <summary>The consumer's <c>DisposeAsync</c>, after <see cref="ThrowIfMoving"/>: stops the merge; throws the sources' disposal failures, if any.</summary>
    protected async ValueTask DisposeCoreAsync()
    {
        List<Exception>? failures = await StopAsync().ConfigureAwait(false);
        if (failures is not null && _errorMode != MergeErrorMode.Suppress)
        {
            throw new AggregateException(DisposeFailedMessage, failures);
        }
    }

    /// <summary>The first step: gets every source's enumerator and starts its first step, in order.</summary>
    protected void Start()
    {
        if (_cancellationToken.IsCancellationRequested)
        {
            _phase = Phase.Done;
            throw new OperationCanceledException(_cancellationToken);
        }

        _phase = Phase.Running;
        _sourcesCancellation = _cancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(_cancellationToken)
            : new CancellationTokenSource();
        if (_cancellationToken.CanBeCanceled)
        {
            _registration = _cancellationToken.UnsafeRegister(static state => ((MergeCore<T>)state!).OnCancelled(), this);
        }

        CancellationToken token = _sourcesCancellation.Token;
        _open = _sources.Length;
        for (int i = 0; i < _sources.Length; i++)
        {
            var source = new MergeSource<T>(this, i);
            _sources[i] = source;
            try
            {
                source.Enumerator = _sequences[i].GetAsyncEnumerator(token);
            }
            catch (Exception ex)
            {
                source.SyncFailure = ex;
                Ready(source, wasInFlight: false);
                continue;
            }

            Advance(source);
        }
    }

    /// <summary>Starts the next step of <paramref name="source"/>; its outcome joins the ready queue when it finishes.</summary>
    protected void Advance(MergeSource<T> source)
    {
        ValueTask<bool> step;
        try
        {
            step = source.Enumerator!.MoveNextAsync();
        }
        catch (Exception ex)
        {
            source.SyncFailure = ex;
            Ready(source, wasInFlight: false);
            return;
        }

        source.Step = step;
        if (step.IsCompleted)
        {
            Ready(source, wasInFlight: false);
            return;
        }

        lock (_gate)
        {
            _inFlight++;
        }

        step.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(source.OnStepCompleted);
    }

    /// <summary>Takes the source whose step finished first, if any.</summary>
    protected bool TryTake([NotNullWhen(true)] out MergeSource<T>? source)
    {
        lock (_gate)
        {
            if (_readyCount == 0)
            {
                source = null;
                return false;
            }

            source = _sources[_ready[_readyHead]];
            _readyHead = _readyHead + 1 == _ready.Length ? 0 : _readyHead + 1;
            _readyCount--;
            return true;
        }
    }

    /// <summary>Takes every source whose step has finished, in order; returns how many.</summary>
    protected int TakeAll(MergeSource<T>[] into)
    {
        lock (_gate)
        {
            int count = _readyCount;
            for (int i = 0; i < count; i++)
            {
                into[i] = _sources[_ready[_readyHead]];
                _readyHead = _readyHead + 1 == _ready.Length ? 0 : _readyHead + 1;
            }

            _readyCount = 0;
            return count;
        }
    }

    /// <summary>Reads the outcome of a finished step (exactly once per step).</summary>
    protected static Outcome Take(MergeSource<T> source, out T item, out Exception? failure)
    {
        item = default!;
        failure = source.SyncFailure;
        if (failure is not null)
        {
            source.SyncFailure = null;
            return Outcome.Failed;
        }

        ValueTask<bool> step = source.Step;
        source.Step = default;
        try
        {
            if (step.GetAwaiter().GetResult())
            {
                item = source.Enumerator!.Current;
                return Outcome.Item;
            }

            return Outcome.Ended;
        }
        catch (Exception ex)
        {
            failure = ex;
            return Outcome.Failed;
        }
    }

    /// <summary>Whether a failure is the consumer's own cancellation reaching a source, rather than a source failing.</summary>
    protected bool IsConsumerCancellation(Exception? failure) =>
        failure is OperationCanceledException && _cancellationToken.IsCancellationRequested;

    /// <summary>
    /// A source ended or failed: disposes it and applies the error mode. Returns the failures that end
    /// the merge (<see cref="MergeErrorMode.Throw"/>), the source's own first.
    /// </summary>
    protected async ValueTask<List<Exception>?> FinishAsync(MergeSource<T> source, Exception? failure)
    {
        _open--;
        List<Exception>? failures = failure is null ? null : [failure];
        if (source.Enumerator is { } enumerator)
        {
            source.Enumerator = null;
            try
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                (failures ??= []).Add(ex);
            }
        }

        if (failures is null)
        {
            return null;
        }

        switch (_errorMode)
        {
            case MergeErrorMode.Delay:
                (_delayed ??= []).AddRange(failures);
                return null;
            case MergeErrorMode.Suppress:
                return null;
            default:
                return failures;
        }
    }

    /// <summary>Waits until a step finishes, or (when <paramref name="cancellable"/>) the consumer's token is cancelled.</summary>
    protected ValueTask WaitAsync(bool cancellable)
    {
        lock (_gate)
        {
            if (_readyCount > 0 || (cancellable && _cancelled))
            {
                return default;
            }

            if (_inFlight == 0)
            {
                // Every open source is in flight, ready, or advanced at the start of each step.
                throw new UnreachableException("The merge waited with no step in flight.");
            }

            _signal.Reset();
            _waiting = true;
            _waitCancellable = cancellable;
        }

        return new ValueTask(this, _signal.Version);
    }

    /// <summary>Every source ended: releases the token and registration; in Delay mode throws what was collected.</summary>
    protected void Finish()
    {
        Release();
        if (_delayed is { } failures)
        {
            _delayed = null;
            throw new AggregateException(FailedMessage, failures);
        }
    }

    /// <summary>Stops the merge for a failure in Throw mode and returns the exception to throw.</summary>
    protected async ValueTask<Exception> StopForFailureAsync(List<Exception> failures)
    {
        List<Exception>? cleanup = await StopAsync().ConfigureAwait(false);
        if (cleanup is not null)
        {
            failures.AddRange(cleanup);
        }

        return failures.Count == 1 ? failures[0] : new AggregateException(FailedMessage, failures);
    }

    /// <summary>Stops the merge because the consumer's token was cancelled and returns the exception to throw.</summary>
    protected async ValueTask<Exception> StopForCancellationAsync()
    {
        List<Exception>? cleanup = await StopAsync().ConfigureAwait(false);
        var cancelled = new OperationCanceledException(_cancellationToken);
        return cleanup is null || _errorMode == MergeErrorMode.Suppress
            ? cancelled
            : new AggregateException(DisposeFailedMessage, [cancelled, .. cleanup]);
    }

    /// <summary>Reads and drops the outcomes of steps already taken from the ready queue.</summary>
    protected static void Discard(MergeSource<T>[] taken, int from, int count)
    {
        for (int i = from; i < count; i++)
        {
            _ = Take(taken[i], out _, out _);
            taken[i] = null!;
        }
    }

    /// <summary>
    /// Leaves early: cancels the sources' token, lets every step in flight finish (its outcome is dropped),
    /// then disposes every source that is left, all of them even when some fail. Idempotent. Returns the
    /// failures of that cleanup.
    /// </summary>
    private async ValueTask<List<Exception>?> StopAsync()
    {
        if (_phase != Phase.Running)
        {
            _phase = Phase.Done;
            return null;
        }

        _phase = Phase.Done;
        List<Exception>? failures = null;
        try
        {
            _sourcesCancellation!.Cancel();
        }
        catch (AggregateException ex)
        {
            (failures ??= []).AddRange(ex.InnerExceptions);
        }

        while (true)
        {
            while (TryTake(out MergeSource<T>? finished))
            {
                _ = Take(finished, out _, out _);
            }

            lock (_gate)
            {
                if (_inFlight == 0 && _readyCount == 0)
                {
                    break;
                }
            }

            await WaitAsync(cancellable: false).ConfigureAwait(false);
        }

        List<ValueTask>? disposing = null;
        foreach (MergeSource<T>? source in _sources)
        {
            if (source?.Enumerator is not { } enumerator)
            {
                continue;
            }

            source.Enumerator = null;
            try
            {
                ValueTask disposal = enumerator.DisposeAsync();
                if (disposal.IsCompleted)
                {
                    disposal.GetAwaiter().GetResult();
                }
                else
                {
                    (disposing ??= []).Add(disposal);
                }
            }
            catch (Exception ex)
            {
                (failures ??= []).Add(ex);
            }
        }

        if (disposing is not null)
        {
            foreach (ValueTask disposal in disposing)
            {
                try
                {
                    await disposal.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    (failures ??= []).Add(ex);
                }
            }
        }

        Release();
        return failures;
    }

    private void Release()
    {
        _phase = Phase.Done;
        _registration.Dispose();
        _registration = default;
        _sourcesCancellation?.Dispose();
        _sourcesCancellation = null;
    }

    private void Ready(MergeSource<T> source, bool wasInFlight)
    {
        bool wake;
        lock (_gate)
        {
            if (wasInFlight)
            {
                _inFlight--;
            }

            int tail = _readyHead + _readyCount;
            _ready[tail >= _ready.Length ? tail - _ready.Length : tail] = source.Index;
            _readyCount++;
            wake = _waiting;
            _waiting = false;
        }

        if (wake)
        {
            _signal.SetResult(true);
        }
    }

    private void OnCancelled()
    {
        Interlocked.Increment(ref CancellationCallbacks);
        bool wake;
        lock (_gate)
        {
            _cancelled = true;
            wake = _waiting && _waitCancellable;
            if (wake)
            {
                _waiting = false;
            }
        }

        if (wake)
        {
            _signal.SetResult(false);
        }
    }

    /// <summary>Throws <paramref name="exception"/>, keeping its stack trace when it was thrown before.</summary>
    [DoesNotReturn]
    protected static void Throw(Exception exception) => ExceptionDispatchInfo.Throw(exception);
}
