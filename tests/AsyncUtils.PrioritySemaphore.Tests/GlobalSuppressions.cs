using System.Diagnostics.CodeAnalysis;

// The tests read a ValueTask's IsCompleted right after a Release to prove which waiter got the
// permit, before awaiting it. The semaphore's ValueTasks are backed by single-use sources that are
// never pooled, so inspecting one before awaiting it is safe here.
[assembly: SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "Tests observe single-use, unpooled ValueTasks right after a release.")]
