using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AsyncUtils.Tests;

/// <summary>One log entry as a provider received it.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>A logger provider that keeps every entry, or (with <c>throws</c>) throws from every call.</summary>
internal sealed class LogCollector(bool throws = false) : ILoggerProvider
{
    private readonly bool _throws = throws;
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public int Calls => _calls;

    private int _calls;

    public IReadOnlyList<LogEntry> Named(string eventName) => [.. _entries.Where(e => e.EventId.Name == eventName)];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
            => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!category.StartsWith("AsyncUtils", StringComparison.Ordinal))
            {
                return;
            }

            Interlocked.Increment(ref owner._calls);
            if (owner._throws)
            {
                throw new InvalidOperationException("a faulty logger");
            }

            owner._entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
        }
    }
}
