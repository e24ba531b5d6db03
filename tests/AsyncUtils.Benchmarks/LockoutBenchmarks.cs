using System.Runtime.CompilerServices;
using AsyncUtils;
using BenchmarkDotNet.Attributes;

namespace AsyncUtils.Benchmarks;

/// <summary>Entering an unlocked lockout, against returning a bare completed <see cref="ValueTask"/>.</summary>
[MemoryDiagnoser]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods.")]
public class LockoutBenchmarks
{
    private readonly Lockout _lockout = new();
    private readonly Lockout _fifo = new(new LockoutOptions { Fifo = true });

    [Benchmark(Baseline = true, Description = "bare ValueTask")]
    public void BareValueTask() => Consume(ReturnDefault());

    [Benchmark(Description = "Lockout.EnterAsync (unlocked)")]
    public void Enter() => Consume(_lockout.EnterAsync());

    [Benchmark(Description = "FIFO Lockout.EnterAsync (unlocked)")]
    public void EnterFifo() => Consume(_fifo.EnterAsync(CancellationToken.None));

    [Benchmark(Description = "Lockout.TryEnter (unlocked)")]
    public bool TryEnter() => _lockout.TryEnter();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ValueTask ReturnDefault() => default;

    /// <summary>Takes the result the way a caller's await does on the synchronous path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consume(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }
}
