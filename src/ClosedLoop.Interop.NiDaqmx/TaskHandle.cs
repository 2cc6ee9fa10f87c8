using System.Runtime.InteropServices;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// An NI-DAQmx <c>TaskHandle</c>. Released exactly once with <c>DAQmxClearTask</c> (which also stops the task), through
/// the API that created it. Calls on the task hold a reference (<see cref="Lease"/>), so a Dispose from another thread
/// waits for an in-flight call to return before the handle is cleared.
/// </summary>
internal sealed class TaskHandle : SafeHandle
{
    private readonly INiDaqmxApi _api;

    public TaskHandle(INiDaqmxApi api, nint handle) : base(0, ownsHandle: true)
    {
        _api = api;
        SetHandle(handle);
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Status DAQmxClearTask returned (0 before release).</summary>
    public int ClearStatus { get; private set; }

    /// <summary>Holds the handle open for one call; dispose the lease when the call returns.</summary>
    /// <exception cref="ObjectDisposedException">The handle was already released.</exception>
    public HandleLease Lease()
    {
        bool added = false;
        DangerousAddRef(ref added);
        return new HandleLease(this, added);
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        ClearStatus = _api.ClearTask(handle);
        return ClearStatus >= 0;
    }

    /// <summary>A reference held on a <see cref="TaskHandle"/> for the length of a call.</summary>
    internal readonly ref struct HandleLease
    {
        private readonly TaskHandle _owner;
        private readonly bool _added;

        public HandleLease(TaskHandle owner, bool added)
        {
            _owner = owner;
            _added = added;
        }

        /// <summary>The raw handle to pass to the driver.</summary>
        public nint Handle => _owner.DangerousGetHandle();

        public void Dispose()
        {
            if (_added) _owner.DangerousRelease();
        }
    }
}
