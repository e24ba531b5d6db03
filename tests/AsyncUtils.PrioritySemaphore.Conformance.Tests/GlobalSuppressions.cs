using System.Diagnostics.CodeAnalysis;

// The ported tests read the ValueTasks of PrioritySemaphore the way the upstream tests read
// SemaphoreSlim's Tasks (.AsTask().Result and the like). The semaphore's ValueTasks are backed by
// single-use sources that are never pooled, so that is safe here.
[assembly: SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "Single-use, unpooled ValueTasks observed as the upstream tests observe Tasks.")]
