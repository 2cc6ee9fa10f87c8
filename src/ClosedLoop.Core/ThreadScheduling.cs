using System.Runtime.InteropServices;

namespace ClosedLoop.Core;

/// <summary>The threads of a run that want the scheduler's attention, in increasing order of priority.</summary>
public enum ThreadRole
{
    /// <summary>The acquisition thread of a frame source.</summary>
    Acquisition,
    /// <summary>The fast loop: decides stimulation on every frame.</summary>
    FastLoop,
    /// <summary>The stimulation watchdog: must be able to run even if the fast loop spins.</summary>
    Watchdog,
}

/// <summary>
/// Raises the calling thread's scheduling priority so that the fast loop wakes as soon as a frame arrives, even on
/// a busy machine. On Linux it asks for the real-time policy SCHED_FIFO (permitted for root or with
/// CAP_SYS_NICE / an rtprio limit); when refused it falls back to a lower nice value; when that is refused too the
/// thread stays as it was. The watchdog gets the highest priority so a runaway loop can never starve it; Linux's
/// real-time throttling also keeps some time for ordinary threads. Elsewhere nothing is changed.
/// The returned text says what was obtained, for the run report.
/// </summary>
public static partial class ThreadScheduling
{
    private const int SchedFifo = 1;
    private const int PrioProcess = 0;

    /// <summary>Raises the calling thread for <paramref name="role"/>; returns what was obtained, in words.</summary>
    public static string RaiseCurrentThread(ThreadRole role)
    {
        if (!OperatingSystem.IsLinux()) return "normal (priority changes are only made on Linux)";
        int rtPriority = role switch { ThreadRole.Acquisition => 40, ThreadRole.FastLoop => 50, _ => 60 };
        int nice = role switch { ThreadRole.Acquisition => -5, ThreadRole.FastLoop => -10, _ => -15 };
        try
        {
            int param = rtPriority;
            if (sched_setscheduler(0, SchedFifo, ref param) == 0) return $"SCHED_FIFO {rtPriority}";
            int fifoError = Marshal.GetLastPInvokeError();
            // On Linux, PRIO_PROCESS with who = 0 applies to the calling thread.
            if (setpriority(PrioProcess, 0, nice) == 0) return $"nice {nice} (SCHED_FIFO refused: errno {fifoError})";
            return $"normal (no permission to raise it: errno {Marshal.GetLastPInvokeError()})";
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"normal ({ex.GetType().Name})";
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, ref int param);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, uint who, int prio);
}
