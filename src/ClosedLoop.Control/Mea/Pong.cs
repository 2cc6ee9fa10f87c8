using ClosedLoop.Core;

namespace ClosedLoop.Control.Mea;

/// <summary>A protocol stage that runs trials or games (what the run report and progress display read).</summary>
public interface IProtocolStage : IFastStage
{
    /// <summary>Trials finished so far (a copy).</summary>
    IReadOnlyList<TrialRecord> Trials { get; }

    /// <summary>Current state, for displays.</summary>
    string StateName { get; }

    /// <summary>Registers what remote control may change while the run goes.</summary>
    void RegisterParameters(ParameterBoard board);
}

/// <summary>What a pong run is: the game with feedback, or one of its two controls (Kagan et al. 2022 compared the
/// game against both).</summary>
public enum PongCondition
{
    /// <summary>The experiment: sensory coding of the ball, predictable feedback after a hit, unpredictable after a miss.</summary>
    ClosedLoop,

    /// <summary>Control without feedback: the same sensory coding and paddle, nothing after a hit or a miss.</summary>
    OpenLoop,

    /// <summary>Control at rest: no stimulation at all (no sensory coding, no feedback); the game is still played and
    /// the paddle moves from the culture's spontaneous activity only.</summary>
    Rest,
}

/// <summary>Names of <see cref="PongCondition"/> as experiment files, reports and the command line write them.</summary>
public static class PongConditions
{
    /// <summary>Every condition's name, in enum order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["closed-loop", "open-loop", "rest"];

    /// <summary>closed-loop, open-loop or rest.</summary>
    public static string Name(PongCondition condition) => Names[(int)condition];

    /// <summary>The condition named <paramref name="name"/>, or a <see cref="SettingException"/> on
    /// <paramref name="setting"/> listing the names.</summary>
    public static PongCondition Parse(string name, string setting)
    {
        int i = Names.ToList().IndexOf(name);
        return i >= 0 ? (PongCondition)i
            : throw new SettingException(setting, name, "'closed-loop' (hit and miss feedback), 'open-loop' (the control without feedback) or 'rest' (the control without any stimulation)");
    }
}

/// <summary>Settings of <see cref="PongProtocol"/> (protocol kind <c>pong</c>).</summary>
public sealed class PongSettings : IStageSettings
{
    /// <summary>Electrical stimulator (profile name).</summary>
    public string Stimulator { get; set; } = "";

    /// <summary>Sensory electrodes, in order along the field's y axis (place code of the ball).</summary>
    public string Sensory { get; set; } = "";

    /// <summary>Motor region whose activity moves the paddle up.</summary>
    public string MotorUp { get; set; } = "";

    /// <summary>Motor region whose activity moves the paddle down.</summary>
    public string MotorDown { get; set; } = "";

    /// <summary>Games (rallies) to play; the run ends after the last one's feedback and rest.</summary>
    public int Games { get; set; } = 40;

    /// <summary>Spontaneous activity before the first serve, s.</summary>
    public double WarmUpS { get; set; } = 2;

    /// <summary>Ball speed along x, field widths per s (the field is 1 × 1; the paddle is at x = 0).</summary>
    public double BallSpeedPerS { get; set; } = 0.8;

    /// <summary>Half the paddle's height, field heights.</summary>
    public double PaddleHalfHeight { get; set; } = 0.2;

    /// <summary>Paddle speed per Hz of (up − down) motor rate, field heights per s per Hz.</summary>
    public double PaddleGainPerHz { get; set; } = 0.02;

    /// <summary>Time constant of the running mean of (up − down) motor rate that is subtracted before it moves the
    /// paddle, s; 0 = off (the raw difference). Regions that record different numbers of neurons differ in their
    /// spontaneous rates, and the raw difference then pins the paddle to one wall; relative to its running mean the
    /// paddle follows changes in activity. Updated every block in every state.</summary>
    public double MotorBaselineS { get; set; }

    /// <summary>Rate code: pulse rate on the place electrode when the ball is farthest from the paddle, Hz.</summary>
    public double MinRateHz { get; set; } = 4;

    /// <summary>Rate code: pulse rate when the ball is at the paddle, Hz.</summary>
    public double MaxRateHz { get; set; } = 40;

    /// <summary>Predictable feedback after a hit: pulses on every sensory electrode at this rate, Hz.</summary>
    public double HitFeedbackRateHz { get; set; } = 100;

    /// <summary>Duration of the hit feedback, s.</summary>
    public double HitFeedbackS { get; set; } = 0.1;

    /// <summary>Unpredictable feedback after a miss: pulses on random sensory electrodes at random times (Poisson)
    /// with this mean rate, Hz.</summary>
    public double MissFeedbackRateHz { get; set; } = 5;

    /// <summary>Duration of the miss feedback, s.</summary>
    public double MissFeedbackS { get; set; } = 4;

    /// <summary>Rest without stimulation before the next serve, s.</summary>
    public double RestS { get; set; } = 0.5;

    /// <summary>The experiment or one of its controls (read once, at the start).</summary>
    public PongCondition Condition { get; set; } = PongCondition.ClosedLoop;

    /// <summary>Current of each phase of the sensory-code pulses (and of the feedback unless set below), µA.</summary>
    public double AmplitudeUa { get; set; } = 15;

    /// <summary>Current of each phase of the hit feedback's pulses, µA; null = <see cref="AmplitudeUa"/>.</summary>
    public double? HitFeedbackAmplitudeUa { get; set; }

    /// <summary>Current of each phase of the miss feedback's pulses, µA; null = <see cref="AmplitudeUa"/> (DishBrain
    /// used twice the hit feedback's voltage).</summary>
    public double? MissFeedbackAmplitudeUa { get; set; }

    /// <summary>Width of each phase, µs.</summary>
    public double PhaseUs { get; set; } = 200;

    /// <summary>Seed of the serves and of the miss feedback (two separate streams: the serves of a seed are the same in
    /// every condition).</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "protocol";

    /// <inheritdoc />
    public void Validate()
    {
        string p = SettingPath;
        Check.NotEmpty($"{p}.stimulator", Stimulator);
        Check.NotEmpty($"{p}.sensory", Sensory);
        Check.NotEmpty($"{p}.motorUp", MotorUp);
        Check.NotEmpty($"{p}.motorDown", MotorDown);
        Check.InRange($"{p}.games", Games, 1, 100_000);
        Check.InRange($"{p}.warmUpS", WarmUpS, 0, 3600);
        Check.InRange($"{p}.ballSpeedPerS", BallSpeedPerS, 0.01, 100);
        Check.InRange($"{p}.paddleHalfHeight", PaddleHalfHeight, 0.01, 0.5);
        Check.InRange($"{p}.paddleGainPerHz", PaddleGainPerHz, 0, 100);
        Check.InRange($"{p}.motorBaselineS", MotorBaselineS, 0, 3600);
        Check.InRange($"{p}.minRateHz", MinRateHz, 0.1, 500);
        Check.InRange($"{p}.maxRateHz", MaxRateHz, MinRateHz, 500);
        Check.InRange($"{p}.hitFeedback.rateHz", HitFeedbackRateHz, 0.1, 500);
        Check.InRange($"{p}.hitFeedback.durationS", HitFeedbackS, 0, 60);
        Check.InRange($"{p}.missFeedback.rateHz", MissFeedbackRateHz, 0.1, 500);
        Check.InRange($"{p}.missFeedback.durationS", MissFeedbackS, 0, 600);
        Check.InRange($"{p}.restS", RestS, 0, 3600);
        Check.InRange($"{p}.pulse.amplitudeUa", AmplitudeUa, 0.001, 10_000);
        if (HitFeedbackAmplitudeUa is double hitUa) Check.InRange($"{p}.hitFeedback.amplitudeUa", hitUa, 0.001, 10_000);
        if (MissFeedbackAmplitudeUa is double missUa) Check.InRange($"{p}.missFeedback.amplitudeUa", missUa, 0.001, 10_000);
        Check.InRange($"{p}.pulse.phaseUs", PhaseUs, 1, 100_000);
    }
}

/// <summary>One game: from the serve to the miss.</summary>
/// <param name="Index">Game number from 1.</param>
/// <param name="StartS">Serve time, s.</param>
/// <param name="EndS">Miss time, s.</param>
/// <param name="Hits">Rally length: hits before the miss (0 = an ace).</param>
public sealed record PongGame(int Index, double StartS, double EndS, int Hits);

/// <summary>
/// Pong as in DishBrain (Kagan et al. 2022) on an MEA. The ball moves in a 1 × 1 field; the paddle is at x = 0 and
/// moves along y at <see cref="PongSettings.PaddleGainPerHz"/> × (rate of the up region − rate of the down region)
/// (the front end's smoothed spike rates). Sensory stimulation codes the ball: place — the pulse goes to the sensory
/// electrode whose share of the y axis holds the ball; rate — 4 Hz when the ball is at the far wall up to 40 Hz at
/// the paddle. A hit (the ball reaches x = 0 within the paddle) bounces the ball and, in the closed loop, is followed
/// by predictable feedback (every sensory electrode at 100 Hz for 100 ms); a miss ends the game and is followed by
/// unpredictable feedback (random sensory electrodes at random times for 4 s), then a rest and a new serve. The
/// first feedback pulse goes out on the block that saw the hit or the miss. The controls
/// (<see cref="PongSettings.Condition"/>) play the same games: open loop with the sensory coding but no feedback,
/// rest with no stimulation at all. Games are reported as trials (<see cref="Trials"/>: response time = rally length
/// in hits) and as <see cref="Games"/>; the host latency from the block that saw a hit or miss to its first feedback
/// pulse reaching the stimulator is kept per event (<see cref="FeedbackLatenciesUs"/>). Sample-clock timing;
/// allocation-free per block except for the event log.
/// </summary>
public sealed class PongProtocol : IProtocolStage
{
    /// <summary>Feedback latencies kept; later ones are counted in <see cref="FeedbackLatenciesNotKept"/>.</summary>
    public const int FeedbackLatencyCapacity = 16_384;

    private enum State { WarmUp, Playing, MissFeedback, Rest, Done }

    private readonly PongSettings _s;
    private readonly SafetyInterlock _interlock;
    private readonly StimulationChannel _channel;
    private readonly StimulationTargets[] _place;
    private readonly StimulationTargets _all;
    private readonly int[] _up, _down;
    private readonly PopulationActivity _activity;
    private readonly List<PongGame> _games = new(256);
    private readonly double[] _latencyUs = new double[FeedbackLatencyCapacity];
    private readonly Random _serves, _feedback;
    private readonly double _hitUa, _missUa;
    private RunContext? _context;
    private State _state;
    private double _ballX, _ballY, _vx, _vy, _paddleY, _motorBaselineHz;
    private bool _baselineStarted;
    private long _nextSensoryNs, _hitFeedbackUntilNs, _nextHitPulseNs, _phaseEndNs, _nextMissPulseNs, _gameStartNs, _lastNs, _blockHostNs;
    private int _hits, _gameIndex, _refused, _latencyCount;
    private long _latencyNotKept;

    /// <summary>Wires the game to its electrodes (unit indices) and the interlock channel it stimulates through.</summary>
    public PongProtocol(PongSettings settings, int[] sensory, int[] motorUp, int[] motorDown, PopulationActivity activity,
        SafetyInterlock interlock, StimulationChannel channel)
    {
        settings.Validate();
        if (sensory.Length == 0 || motorUp.Length == 0 || motorDown.Length == 0)
            throw new SettingException($"{settings.SettingPath}.sensory", sensory.Length, "non-empty sensory and motor groups");
        _s = settings;
        _interlock = interlock;
        _channel = channel;
        _place = sensory.Select(e => new StimulationTargets($"{settings.Sensory}[{e}]", [e])).ToArray();
        _all = new StimulationTargets(settings.Sensory, sensory.ToArray());
        _up = motorUp.ToArray();
        _down = motorDown.ToArray();
        _activity = activity;
        // Serves and miss feedback draw from separate streams, so every condition (and every control) of one seed
        // gets the same serves whatever feedback it gives: games are comparable one by one.
        _serves = new Random(settings.Seed);
        _feedback = new Random(unchecked(settings.Seed * 7919 + 104_729));
        _hitUa = settings.HitFeedbackAmplitudeUa ?? settings.AmplitudeUa;
        _missUa = settings.MissFeedbackAmplitudeUa ?? settings.AmplitudeUa;
        string p = settings.SettingPath;
        SafetyInterlock.CheckTemplate(channel, Pulse(_place[0], 0, settings.AmplitudeUa), $"{p}.pulse", settings.MaxRateHz, $"{p}.sensoryRateHz");
        SafetyInterlock.CheckTemplate(channel, Pulse(_all, 0, _hitUa), settings.HitFeedbackAmplitudeUa is null ? $"{p}.pulse" : $"{p}.hitFeedback",
            settings.HitFeedbackRateHz, $"{p}.hitFeedback.rateHz");
        SafetyInterlock.CheckTemplate(channel, Pulse(_place[0], 0, _missUa), settings.MissFeedbackAmplitudeUa is null ? $"{p}.pulse" : $"{p}.missFeedback",
            settings.MissFeedbackRateHz, $"{p}.missFeedback.rateHz");
    }

    /// <inheritdoc />
    public string Name => "protocol";

    /// <summary>Games finished so far (a copy).</summary>
    public IReadOnlyList<PongGame> Games { get { lock (_games) return _games.ToArray(); } }

    /// <inheritdoc />
    public IReadOnlyList<TrialRecord> Trials =>
        Games.Select(g => new TrialRecord(g.Index, g.StartS, g.EndS, g.Hits, 0, g.Hits)).ToArray();

    /// <inheritdoc />
    public string StateName => _state.ToString();

    /// <summary>Paddle position, field heights.</summary>
    public double PaddleY => _paddleY;

    /// <summary>The settings.</summary>
    public PongSettings Settings => _s;

    /// <summary>Stimuli the interlock refused.</summary>
    public int Refused => _refused;

    /// <summary>Host time from the end of the block that saw a hit or a miss (its samples complete) to the first
    /// feedback pulse handed to the stimulator, µs, one per feedback in order (a copy; empty in the controls).</summary>
    public IReadOnlyList<double> FeedbackLatenciesUs
    {
        get { lock (_latencyUs) return _latencyUs.AsSpan(0, _latencyCount).ToArray(); }
    }

    /// <summary>Feedback latencies beyond <see cref="FeedbackLatencyCapacity"/>, counted but not kept.</summary>
    public long FeedbackLatenciesNotKept => Interlocked.Read(ref _latencyNotKept);

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _context = context;
        _state = State.WarmUp;
        _paddleY = 0.5;
        _gameIndex = 0;
        _refused = 0;
        lock (_games) _games.Clear();
        lock (_latencyUs) _latencyCount = 0;
        _latencyNotKept = 0;
        _lastNs = 0;
        _motorBaselineHz = 0;
        _baselineStarted = false;
    }

    /// <inheritdoc />
    public void RegisterParameters(ParameterBoard board)
    {
        string p = _s.SettingPath;
        board.Register($"{p}.paddleGainPerHz", "per Hz", 0, 100, () => _s.PaddleGainPerHz, v => _s.PaddleGainPerHz = v, "paddle speed per Hz of motor rate difference");
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        long now = frame.SampleTimeNs + frame.FramePeriodNs;
        double dt = (now - _lastNs) / 1e9;
        _lastNs = now;
        _blockHostNs = frame.CompletedHostNs;
        double drive = MotorDifferenceHz(dt);
        switch (_state)
        {
            case State.WarmUp:
                if (now >= (long)(_s.WarmUpS * 1e9)) Serve(now);
                break;
            case State.Playing:
                Play(now, dt, drive);
                break;
            case State.MissFeedback:
                if (now >= _phaseEndNs) { _state = State.Rest; _phaseEndNs = now + (long)(_s.RestS * 1e9); break; }
                if (now >= _nextMissPulseNs) MissPulse(now);
                break;
            case State.Rest:
                if (now < _phaseEndNs) break;
                if (_gameIndex >= _s.Games)
                {
                    _state = State.Done;
                    _context!.RequestStop($"pong finished its {_s.Games} games");
                    break;
                }
                Serve(now);
                break;
        }
    }

    /// <inheritdoc />
    public void Stop() { }

    private void Serve(long now)
    {
        _state = State.Playing;
        _gameIndex++;
        _hits = 0;
        _gameStartNs = now;
        _ballX = 1;
        _ballY = 0.1 + 0.8 * _serves.NextDouble();
        _vx = -_s.BallSpeedPerS;
        _vy = _s.BallSpeedPerS * (0.3 + 0.7 * _serves.NextDouble()) * (_serves.Next(2) == 0 ? -1 : 1);
        _nextSensoryNs = now;
        _hitFeedbackUntilNs = long.MinValue;
        Log(RunEventKind.TrialStarted, now, $"game {_gameIndex}: serve at y = {_ballY:0.00}");
    }

    /// <summary>(up − down) motor rate, Hz, less its running mean when <see cref="PongSettings.MotorBaselineS"/> is set.</summary>
    private double MotorDifferenceHz(double dt)
    {
        float[] rate = _activity.Rate;
        double up = 0, down = 0;
        foreach (int u in _up) up += rate[u];
        foreach (int u in _down) down += rate[u];
        double diff = up - down;
        if (_s.MotorBaselineS <= 0) return diff;
        if (!_baselineStarted) { _motorBaselineHz = diff; _baselineStarted = true; }
        else _motorBaselineHz += Math.Min(1, dt / _s.MotorBaselineS) * (diff - _motorBaselineHz);
        return diff - _motorBaselineHz;
    }

    private void Play(long now, double dt, double driveHz)
    {
        double h = _s.PaddleHalfHeight;
        _paddleY = Math.Clamp(_paddleY + _s.PaddleGainPerHz * driveHz * dt, h, 1 - h);

        _ballX += _vx * dt;
        _ballY += _vy * dt;
        if (_ballY < 0) { _ballY = -_ballY; _vy = -_vy; }
        if (_ballY > 1) { _ballY = 2 - _ballY; _vy = -_vy; }
        if (_ballX > 1) { _ballX = 2 - _ballX; _vx = -_vx; }
        bool closedLoop = _s.Condition == PongCondition.ClosedLoop;
        if (_ballX <= 0)
        {
            if (Math.Abs(_ballY - _paddleY) <= h)
            {
                _hits++;
                _ballX = -_ballX;
                _vx = -_vx;
                Log(RunEventKind.Detection, now, $"game {_gameIndex}: hit {_hits} (ball at y = {_ballY:0.00}, paddle at {_paddleY:0.00})");
                if (closedLoop && _s.HitFeedbackS > 0)
                {
                    // The first pulse of the predictable feedback goes out on this block.
                    _hitFeedbackUntilNs = now + (long)(_s.HitFeedbackS * 1e9);
                    _nextHitPulseNs = now + (long)(1e9 / _s.HitFeedbackRateHz);
                    Deliver(_all, now, _hitUa);
                    RecordLatency();
                    return;
                }
            }
            else
            {
                var game = new PongGame(_gameIndex, _gameStartNs / 1e9, now / 1e9, _hits);
                lock (_games) _games.Add(game);
                Log(RunEventKind.TrialEnded, now, (_hits == 0 ? $"game {_gameIndex}: ace (missed the serve)" : $"game {_gameIndex}: missed after a rally of {_hits}")
                    + $" (ball at y = {_ballY:0.00}, paddle at {_paddleY:0.00})", _hits);
                _interlock.Stop(_channel);
                if (!closedLoop || _s.MissFeedbackS <= 0) { _state = State.Rest; _phaseEndNs = now + (long)(_s.RestS * 1e9); }
                else
                {
                    _state = State.MissFeedback;
                    _phaseEndNs = now + (long)(_s.MissFeedbackS * 1e9);
                    MissPulse(now); // the unpredictable feedback starts on this block
                    RecordLatency();
                }
                return;
            }
        }
        if (now < _hitFeedbackUntilNs)
        {
            if (now >= _nextHitPulseNs) { Deliver(_all, now, _hitUa); _nextHitPulseNs += (long)(1e9 / _s.HitFeedbackRateHz); }
            return; // the predictable feedback replaces the sensory code while it lasts
        }
        if (_s.Condition != PongCondition.Rest && now >= _nextSensoryNs)
        {
            int e = Math.Clamp((int)(_ballY * _place.Length), 0, _place.Length - 1);
            Deliver(_place[e], now, _s.AmplitudeUa);
            double hz = _s.MinRateHz + (_s.MaxRateHz - _s.MinRateHz) * (1 - Math.Clamp(_ballX, 0, 1));
            _nextSensoryNs = now + (long)(1e9 / hz);
        }
    }

    private void MissPulse(long now)
    {
        Deliver(_place[_feedback.Next(_place.Length)], now, _missUa);
        _nextMissPulseNs = now + (long)(-Math.Log(1 - _feedback.NextDouble()) / _s.MissFeedbackRateHz * 1e9);
    }

    private void RecordLatency()
    {
        double us = (MonotonicClock.NowNs() - _blockHostNs) / 1e3;
        lock (_latencyUs)
        {
            if (_latencyCount < _latencyUs.Length) _latencyUs[_latencyCount++] = us;
            else _latencyNotKept++;
        }
    }

    private void Deliver(StimulationTargets targets, long now, double amplitudeUa)
    {
        if (!_interlock.TryDeliver(_channel, Pulse(targets, now, amplitudeUa))) _refused++;
    }

    private StimulationCommand Pulse(StimulationTargets targets, long now, double amplitudeUa) =>
        new(targets, 0, 2 * _s.PhaseUs / 1000, 1, 0, now)
        {
            AmplitudeUa = amplitudeUa, PhaseWidthUs = _s.PhaseUs, BalanceAmplitudeUa = amplitudeUa, BalancePhaseWidthUs = _s.PhaseUs,
        };

    private void Log(RunEventKind kind, long now, string message, double value = double.NaN) =>
        _context!.Events.Add(new RunEvent(kind, now, MonotonicClock.NowNs(), "pong", message, value));
}
