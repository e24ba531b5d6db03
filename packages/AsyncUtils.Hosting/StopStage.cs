namespace AsyncUtils;

/// <summary>The order in which <see cref="AsyncUtilsHostedService"/> stops the registered primitives.</summary>
internal enum StopStage
{
    /// <summary>Schedulers first: their handlers may still hand work to loops, groups and waterfalls.</summary>
    Schedulers = 0,

    /// <summary>Then threaded loops and task groups, drained and awaited: their work may still put items.</summary>
    Workers = 1,

    /// <summary>Waterfalls last: every item put by anything above is delivered.</summary>
    Sinks = 2,
}
