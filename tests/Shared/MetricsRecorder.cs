using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AsyncUtils.Tests;

/// <summary>
/// Listens to one meter and keeps only the measurements tagged with one instance's name, so that
/// tests running in parallel, each with its own uniquely named instance, do not see each other's.
/// Linked into every test project that checks a package's metrics.
/// </summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string _nameTag;
    private readonly string _name;
    private readonly ConcurrentQueue<Recorded> _events = new();
    private List<Recorded>? _observing;

    internal MetricsRecorder(string meterName, string nameTag, string name)
    {
        _nameTag = nameTag;
        _name = name;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => OnMeasurement(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => OnMeasurement(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => OnMeasurement(i, v, t));
        _listener.Start();
    }

    /// <summary>Called for every measurement of the instance before it is kept; may throw.</summary>
    internal Action<Recorded>? OnRecorded { get; set; }

    /// <summary>The measurements recorded by the instance itself (histograms, counters), in order.</summary>
    internal IReadOnlyList<Recorded> Events => [.. _events];

    /// <summary>Asks every observable instrument of the meter for its values now and returns the instance's.</summary>
    internal IReadOnlyList<Recorded> Observe()
    {
        var observed = new List<Recorded>();
        lock (_listener)
        {
            _observing = observed;
            try
            {
                _listener.RecordObservableInstruments();
            }
            finally
            {
                _observing = null;
            }
        }

        return observed;
    }

    /// <summary>The one observed value of <paramref name="instrument"/> carrying <paramref name="tag"/> (if given); fails unless exactly one.</summary>
    internal static double Single(IReadOnlyList<Recorded> measurements, string instrument, (string Key, string Value)? tag = null)
    {
        var matching = measurements.Where(m => m.Instrument == instrument && (tag is not { } t || Equals(m.Tag(t.Key), t.Value))).ToList();
        Assert.That(matching, Has.Count.EqualTo(1), $"measurements of {instrument} {tag}");
        return matching[0].Value;
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        bool ours = false;
        var copy = new Dictionary<string, object?>();
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            ours |= tag.Key == _nameTag && Equals(tag.Value, _name);
            copy[tag.Key] = tag.Value;
        }

        if (!ours)
        {
            return;
        }

        var recorded = new Recorded(instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy);
        OnRecorded?.Invoke(recorded);
        if (instrument.IsObservable)
        {
            _observing?.Add(recorded);
        }
        else
        {
            _events.Enqueue(recorded);
        }
    }

    internal sealed record Recorded(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
    {
        internal object? Tag(string key) => Tags.TryGetValue(key, out object? value) ? value : null;
    }
}
