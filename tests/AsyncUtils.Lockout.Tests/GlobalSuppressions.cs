using System.Diagnostics.CodeAnalysis;

// The tests read a ValueTask's IsCompleted at chosen instants of a fake clock to prove exactly
// when a waiter is let in. The lockout's ValueTasks are backed by single-use sources that are
// never pooled, so inspecting one before awaiting it is safe here.
[assembly: SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "Tests observe single-use, unpooled ValueTasks at exact fake-clock instants.")]
