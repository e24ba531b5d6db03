using System.Diagnostics.CodeAnalysis;

// Tests start several acquisitions and await them later, to see them wait and complete in order.
[assembly: SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "The limiter's ValueTasks wrap Tasks; tests convert them once with AsTask.")]
