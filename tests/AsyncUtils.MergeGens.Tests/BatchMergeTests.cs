namespace AsyncUtils.Tests;

public sealed class BatchMergeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task What_is_ready_together_comes_in_one_batch_in_arrival_order()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var c = new ManualSource<int>("c");
        b.Yield(2);
        a.Yield(1);
        await using IAsyncEnumerator<IReadOnlyList<int>> merged = AsyncMerge.MergeBatches(a, b, c).GetAsyncEnumerator();

        Assert.That(await merged.MoveNextAsync(), Is.True);
        Assert.That(merged.Current, Is.EqualTo(new[] { 1, 2 }));

        Task<bool> next = merged.MoveNextAsync().AsTask();
        Assert.That(next.IsCompleted, Is.False, "a batch waits for at least one item");
        c.Yield(3);
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(merged.Current, Is.EqualTo(new[] { 3 }));
    }

    [Test]
    public async Task The_sources_of_a_batch_take_their_next_step_only_when_the_consumer_asks_for_the_next_batch()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        a.Yield(1);
        a.Yield(2);
        b.Yield(10);
        await using IAsyncEnumerator<IReadOnlyList<int>> merged = AsyncMerge.MergeBatches(a, b).GetAsyncEnumerator();
        Assert.That(await merged.MoveNextAsync(), Is.True);
        IReadOnlyList<int> first = merged.Current;
        Assert.That(first, Is.EqualTo(new[] { 1, 10 }));
        await Task.Delay(50);
        Assert.That((a.MoveNextCalls, b.MoveNextCalls), Is.EqualTo((1, 1)), "nobody asked for more yet");

        Assert.That(await merged.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(merged.Current, Is.EqualTo(new[] { 2 }));
        Assert.That((a.MoveNextCalls, b.MoveNextCalls), Is.EqualTo((2, 2)));
        Assert.That(first, Is.EqualTo(new[] { 1, 10 }), "each batch is the consumer's to keep");
        Assert.That((a.MaxPending, b.MaxPending), Is.EqualTo((1, 1)));
    }

    [Test]
    public async Task Throw_mode_delivers_the_items_that_arrived_before_the_failure_then_throws_it()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var c = new ManualSource<int>("c");
        var boom = new InvalidDataException("boom");
        a.Yield(1);
        b.Fail(boom);
        c.Yield(3);
        IAsyncEnumerator<IReadOnlyList<int>> merged = AsyncMerge.MergeBatches(a, b, c).GetAsyncEnumerator();

        Assert.That(await merged.MoveNextAsync(), Is.True);
        Assert.That(merged.Current, Is.EqualTo(new[] { 1 }), "a's item came before the failure; c's after it");
        var thrown = await Assert.ThrowsAsync<InvalidDataException>(async () => await merged.MoveNextAsync());
        Assert.That(thrown, Is.SameAs(boom));
        Assert.That((a.DisposeCalls, b.DisposeCalls, c.DisposeCalls), Is.EqualTo((1, 1, 1)));
        Assert.That(a.MoveNextCalls, Is.EqualTo(1), "a is not asked again once the merge failed");
        Assert.That(await merged.MoveNextAsync(), Is.False);
        await merged.DisposeAsync();
    }

    [Test]
    public async Task Throw_mode_throws_at_once_when_nothing_came_before_the_failure()
    {
        var a = new ManualSource<int>("a");
        var boom = new InvalidDataException("boom");
        a.Fail(boom);
        await using IAsyncEnumerator<IReadOnlyList<int>> merged = AsyncMerge.MergeBatches(a, new ManualSource<int>("b")).GetAsyncEnumerator();
        Assert.That(await Assert.ThrowsAsync<InvalidDataException>(async () => await merged.MoveNextAsync().AsTask().WaitAsync(Bound)), Is.SameAs(boom));
    }

    [Test]
    public async Task Delay_mode_batches_go_on_and_the_failures_come_at_the_end()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var e1 = new InvalidDataException("b failed");
        a.Yield(1);
        b.Fail(e1);
        a.Yield(2);
        a.End();
        var batches = new List<IReadOnlyList<int>>();
        var thrown = await Assert.ThrowsAsync<AggregateException>(async () =>
        {
            await foreach (IReadOnlyList<int> batch in AsyncMerge.MergeBatches([a, b], MergeErrorMode.Delay))
            {
                batches.Add(batch);
            }
        });

        Assert.That(batches.SelectMany(x => x), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(thrown!.InnerExceptions, Is.EqualTo(new Exception[] { e1 }));
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));
    }

    [Test]
    public async Task Suppress_mode_batches_drop_failures()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        a.Yield(1);
        b.Fail(new InvalidDataException("dropped"));
        a.End();
        List<IReadOnlyList<int>> batches = await MergeTests.Collect(AsyncMerge.MergeBatches([a, b], MergeErrorMode.Suppress));
        Assert.That(batches.SelectMany(x => x), Is.EqualTo(new[] { 1 }));
        Assert.That(batches.All(x => x.Count > 0), Is.True, "no empty batch");
    }

    [Test]
    public async Task Cancelling_the_consumer_token_ends_a_waiting_batch_and_disposes_every_source()
    {
        using var cts = new CancellationTokenSource();
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        await using IAsyncEnumerator<IReadOnlyList<int>> merged = AsyncMerge.MergeBatches([a, b], MergeErrorMode.Suppress).GetAsyncEnumerator(cts.Token);
        Task<bool> waiting = merged.MoveNextAsync().AsTask();
        cts.Cancel();
        var thrown = await Assert.ThrowsAsync<OperationCanceledException>(async () => await waiting.WaitAsync(Bound));
        Assert.That(thrown!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));
        Assert.That(a.DisposedWhilePending || b.DisposedWhilePending, Is.False);
    }

    [Test]
    public async Task Breaking_out_of_a_batch_merge_disposes_every_source_and_reports_their_disposal_failures()
    {
        var closing = new IOException("cannot close");
        var a = new ManualSource<int>("a") { DisposeFailure = closing };
        var b = new ManualSource<int>("b");
        a.Yield(1);
        IAsyncEnumerator<IReadOnlyList<int>> merged = AsyncMerge.MergeBatches(a, b).GetAsyncEnumerator();
        Assert.That(await merged.MoveNextAsync(), Is.True);
        var thrown = await Assert.ThrowsAsync<AggregateException>(async () => await merged.DisposeAsync());
        Assert.That(thrown!.InnerExceptions, Is.EqualTo(new Exception[] { closing }));
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));
        Assert.That(a.MoveNextCalls, Is.EqualTo(1));
    }
}
