using System.Diagnostics.CodeAnalysis;

// The ported cases read a ValueTask's IsCompleted at chosen instants of a fake clock before
// awaiting it, as the upstream tests do. The limiter's ValueTasks are backed by single-use
// sources that are never pooled, so inspecting one before awaiting it is safe here.
[assembly: SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "Ported tests observe single-use, unpooled ValueTasks at exact fake-clock instants.")]
