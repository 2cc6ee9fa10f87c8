namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>
/// The output buffer of a simulated AO or buffered DO task, interleaved by scan. With regeneration it holds one period
/// that repeats (a write while running replaces it from the next period boundary on); without, it is a FIFO of
/// <c>capacity</c> samples per channel that the sample clock drains.
/// </summary>
internal sealed class SimOutputBuffer<T> where T : struct
{
    private readonly int _channels;
    private readonly int _capacity;
    private readonly bool _regenerate;
    private T[] _current;
    private int _period;       // regeneration: samples per channel in the repeating buffer
    private T[]? _next;        // regeneration: waveform waiting for the next period boundary
    private long _switchAt;
    private T[]? _previous;    // regeneration: the waveform before the last switch, for samples before _currentFrom
    private long _currentFrom;
    private readonly T[] _fifo; // streaming: capacity + 1 slots so the sample on the output is never overwritten
    private long _written;
    private long _generated;

    public SimOutputBuffer(int channels, int capacity, bool regenerate)
    {
        _channels = channels;
        _capacity = capacity;
        _regenerate = regenerate;
        _current = regenerate ? new T[capacity * channels] : [];
        _fifo = regenerate ? [] : new T[(capacity + 1L) * channels > int.MaxValue ? throw new ArgumentOutOfRangeException(nameof(capacity)) : (capacity + 1) * channels];
    }

    /// <summary>Samples per channel written since the last reset.</summary>
    public long Written => _written;

    /// <summary>Samples per channel available to generate (the regeneration period, or all written for a FIFO).</summary>
    public bool HasData => _regenerate ? _period > 0 : _written > 0;

    /// <summary>Free FIFO space in samples per channel (regeneration: room left before start, else 0).</summary>
    public int Space(bool running) => _regenerate
        ? (running ? 0 : _capacity - _period)
        : (int)(_capacity - (_written - _generated));

    /// <summary>Regeneration period in samples per channel (0 for a FIFO).</summary>
    public int Period => _period;

    /// <summary>
    /// Adds samples. Returns null on success, or why it could not (the caller turns that into an error).
    /// <paramref name="running"/> and <paramref name="generated"/> describe the task at the time of the write.
    /// </summary>
    public string? Write(ReadOnlySpan<T> samples, bool running, long generated)
    {
        int scans = samples.Length / _channels;
        if (_regenerate)
        {
            if (!running)
            {
                if (_period + scans > _capacity)
                    return $"{scans} samples per channel do not fit: the buffer holds {_capacity} and {_period} are already written. Enlarge Timing.SamplesPerChannel.";
                if (_current.Length < _capacity * _channels) Array.Resize(ref _current, _capacity * _channels);
                samples.CopyTo(_current.AsSpan(_period * _channels));
                _period += scans;
                _written += scans;
                return null;
            }
            if (scans != _period)
                return $"a write while regenerating must replace the whole waveform ({_period} samples per channel), not {scans}. Write the full period, or stop the task to change its length.";
            _next = samples.ToArray();
            _switchAt = (generated + _period - 1) / _period * _period;
            _written += scans;
            return null;
        }
        long free = _capacity - (_written - _generated);
        if (scans > free)
            return $"{scans} samples per channel do not fit in the {free} free of a {_capacity}-sample buffer. Write smaller blocks, wait for space (WriteSpaceAvailable), or enlarge Timing.SamplesPerChannel.";
        int slots = _capacity + 1;
        for (int s = 0; s < scans; s++)
        {
            int slot = (int)((_written + s) % slots);
            samples.Slice(s * _channels, _channels).CopyTo(_fifo.AsSpan(slot * _channels, _channels));
        }
        _written += scans;
        return null;
    }

    /// <summary>Records that samples 0 … <paramref name="generated"/> − 1 have been put out.</summary>
    public void Advance(long generated)
    {
        if (!_regenerate)
        {
            _generated = Math.Min(Math.Max(_generated, generated), _written);
            return;
        }
        if (_next is not null && generated - 1 >= _switchAt)
        {
            _previous = _current;
            _current = _next;
            _currentFrom = _switchAt;
            _next = null;
        }
    }

    /// <summary>Value of channel <paramref name="channel"/> at sample <paramref name="index"/>; a FIFO sample past the
    /// last written one holds the last written value.</summary>
    public T Value(int channel, long index)
    {
        if (_regenerate)
        {
            if (_period == 0) return default;
            T[] buffer = _next is not null && index >= _switchAt ? _next
                : _previous is not null && index < _currentFrom ? _previous : _current;
            return buffer[(int)(index % _period) * _channels + channel];
        }
        if (_written == 0) return default;
        long i = Math.Min(index, _written - 1);
        return _fifo[(int)(i % (_capacity + 1)) * _channels + channel];
    }

    /// <summary>Forgets streamed samples (a stop). A regeneration buffer is kept so the task can start again.</summary>
    public void ResetStream()
    {
        _generated = 0;
        if (!_regenerate) _written = 0;
        else
        {
            if (_next is not null) { _current = _next; _next = null; }
            _previous = null;
            _written = _period;
        }
    }
}
