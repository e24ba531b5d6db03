using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

/// <summary>A thread-safe record of what ran, in order.</summary>
internal sealed class Log
{
    private readonly ConcurrentQueue<string> _entries = new();

    public string[] Entries => [.. _entries];

    public void Add(string entry) => _entries.Enqueue(entry);
}
