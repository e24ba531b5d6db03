using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AsyncUtils.Tests;

/// <summary>One measurement of the instance under test: instrument, value and the tags besides the name.</summary>
internal sealed record CapturedMeasurement(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
{
    public object? Tag(string key) => Tags.TryGetValue(key, out object? value) ? value : null;
}

/// <summary>
/// A <see cref="MeterListener"/> subscribed only to the instruments of one meter, keeping only the
/// measurements tagged with one instance's unique name (other tests' instances are ignored).
/// Event measurements are kept as they come; observable ones are read by <see cref="Observe"/>.
/// With <c>throwing</c>, the callback throws on every measurement of the instance instead.
/// </summary>
internal sealed class MetricCapture : IDisposable
{
    private readonly MeterListener _listener;
    private readonly string _nameTag;
    private readonly string _name;
    private readonly bool _throwing;
    private readonly ConcurrentQueue<CapturedMeasurement> _events = new();
    private readonly object _observeGate = new();
    private List<CapturedMeasurement>? _observed;
    private int _seen;

    public MetricCapture(string meterName, string nameTag, string name, bool throwing = false)
    {
        _nameTag = nameTag;
        _name = name;
        _throwing = throwing;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == meterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },

            // On .NET 8, disposing a listener without this callback leaves its instruments
            // enabled (Instrument.Enabled stays true), which later tests would see.
            MeasurementsCompleted = (_, _) => { },
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => OnMeasurement(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => OnMeasurement(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => OnMeasurement(i, v, t));
        _listener.Start();
    }

    /// <summary>How many measurements of the instance the callback has seen (also when it threw on them).</summary>
    public int Seen => Volatile.Read(ref _seen);

    /// <summary>The event (non-observable) measurements of <paramref name="instrument"/> so far.</summary>
    public IReadOnlyList<CapturedMeasurement> Events(string instrument) => [.. _events.Where(m => m.Instrument == instrument)];

    /// <summary>Collects the observable instruments now: the instance's measurements of <paramref name="instrument"/>.</summary>
    public IReadOnlyList<CapturedMeasurement> ObserveAll(string instrument)
    {
        lock (_observeGate)
        {
            _observed = [];
            _listener.RecordObservableInstruments();
            List<CapturedMeasurement> observed = _observed;
            _observed = null;
            return [.. observed.Where(m => m.Instrument == instrument)];
        }
    }

    /// <summary>
    /// Collects the observable instruments now and returns the instance's value of
    /// <paramref name="instrument"/> (with the tag <paramref name="tagKey"/> = <paramref name="tagValue"/>
    /// when given), or <see langword="null"/> when it reported none.
    /// </summary>
    public long? Observe(string instrument, string? tagKey = null, string? tagValue = null)
    {
        List<CapturedMeasurement> matches = [.. ObserveAll(instrument).Where(m => tagKey is null || Equals(m.Tag(tagKey), tagValue))];
        Assert.That(matches, Has.Count.LessThanOrEqualTo(1), $"one measurement of {instrument} per instance and tag");
        return matches.Count == 0 ? null : (long)matches[0].Value;
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        bool ours = false;
        var others = new Dictionary<string, object?>();
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == _nameTag)
            {
                ours = Equals(tag.Value, _name);
            }
            else
            {
                others[tag.Key] = tag.Value;
            }
        }

        if (!ours)
        {
            return;
        }

        Interlocked.Increment(ref _seen);
        if (_throwing)
        {
            throw new InvalidOperationException("a faulty listener");
        }

        var measurement = new CapturedMeasurement(instrument.Name, value, others);
        if (instrument.IsObservable)
        {
            _observed?.Add(measurement); // only during RecordObservableInstruments, on the thread holding _observeGate
        }
        else
        {
            _events.Enqueue(measurement);
        }
    }
}
