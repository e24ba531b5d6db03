using System.Runtime.InteropServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// Stands in for <see cref="PosixSignalRegistration"/> so that in-process tests never install a
/// real handler in the test host: it records what the host installs and removes, and raises a
/// "signal" by calling the installed handler as the runtime would.
/// </summary>
internal sealed class FakeSignals
{
    private readonly List<Registration> _active = [];

    public List<PosixSignal> Installed { get; } = [];

    public List<PosixSignal> Removed { get; } = [];

    /// <summary>When set, installing this signal throws it.</summary>
    public (PosixSignal Signal, Exception Error)? FailOn { get; set; }

    /// <summary>When set, removing this signal's handler throws it.</summary>
    public (PosixSignal Signal, Exception Error)? FailRemovalOf { get; set; }

    public IReadOnlyList<PosixSignal> Active
    {
        get
        {
            lock (_active)
            {
                return [.. _active.Select(r => r.Signal)];
            }
        }
    }

    /// <summary>A host whose handlers go to this fake, and whose forced exits are recorded instead of ending the test host.</summary>
    public static SignalHost Host(out FakeSignals signals, SignalHostOptions? options = null)
    {
        options ??= new SignalHostOptions();
        options.ForceExit ??= code => Assert.Fail($"ForceExit({code}) was called unexpectedly");
        var host = new SignalHost(options);
        var fake = new FakeSignals();
        host.SignalRegistrar = fake.Register;
        signals = fake;
        return host;
    }

    public static SignalHost Host(out FakeSignals signals, FakeTimeProvider time, TimeSpan shutdownTimeout) =>
        Host(out signals, new SignalHostOptions { TimeProvider = time, ShutdownTimeout = shutdownTimeout });

    public IDisposable Register(PosixSignal signal, Action<PosixSignalContext> handler)
    {
        if (FailOn is { } fail && fail.Signal == signal)
        {
            throw fail.Error;
        }

        var registration = new Registration(this, signal, handler);
        lock (_active)
        {
            Installed.Add(signal);
            _active.Add(registration);
        }

        return registration;
    }

    /// <summary>
    /// Delivers a signal to the installed handler; returns whether the handler cancelled the
    /// default action (<see langword="false"/> when no handler is installed for it, as the runtime
    /// would then apply the default action).
    /// </summary>
    public bool Raise(PosixSignal signal)
    {
        Registration? registration;
        lock (_active)
        {
            registration = _active.SingleOrDefault(r => r.Signal == signal);
        }

        if (registration is null)
        {
            return false;
        }

        var context = new PosixSignalContext(signal);
        registration.Handler(context);
        return context.Cancel;
    }

    private sealed class Registration(FakeSignals owner, PosixSignal signal, Action<PosixSignalContext> handler) : IDisposable
    {
        public PosixSignal Signal { get; } = signal;

        public Action<PosixSignalContext> Handler { get; } = handler;

        public void Dispose()
        {
            lock (owner._active)
            {
                owner._active.Remove(this);
                owner.Removed.Add(Signal);
            }

            if (owner.FailRemovalOf is { } fail && fail.Signal == Signal)
            {
                throw fail.Error;
            }
        }
    }
}
