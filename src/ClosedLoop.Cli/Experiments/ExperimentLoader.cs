using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.Hardware.Yaml;

namespace ClosedLoop.Cli.Experiments;

/// <summary>
/// Reads experiment files (YAML). Unknown keys are refused, absent keys keep the stage's defaults, and every error
/// names the file, line, setting and allowed range. Keys are camelCase property names with units (<c>pauseS</c>).
/// </summary>
public static partial class ExperimentLoader
{
    /// <summary>Prefix selecting an experiment shipped inside the command, e.g. <c>builtin:stimulus-avoidance</c>.</summary>
    public const string BuiltinPrefix = "builtin:";

    /// <summary>The experiment <c>closedloop run</c> uses when none is given.</summary>
    public const string DefaultExperiment = "builtin:stimulus-avoidance";

    private const string ResourcePrefix = "experiments/";

    /// <summary>Names of the shipped experiments (without prefix).</summary>
    public static IReadOnlyList<string> BuiltinNames() =>
        typeof(ExperimentLoader).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".yaml", StringComparison.Ordinal))
            .Select(n => n[ResourcePrefix.Length..^".yaml".Length]).Order(StringComparer.Ordinal).ToList();

    /// <summary>Loads a file or a <c>builtin:</c> experiment.</summary>
    public static Experiment Load(string pathOrBuiltin)
    {
        if (pathOrBuiltin.StartsWith(BuiltinPrefix, StringComparison.Ordinal))
        {
            string name = pathOrBuiltin[BuiltinPrefix.Length..];
            using var stream = typeof(ExperimentLoader).Assembly.GetManifestResourceStream(ResourcePrefix + name + ".yaml")
                ?? throw new SettingException("experiment", pathOrBuiltin,
                    $"a path to an experiment YAML file or one of: {string.Join(", ", BuiltinNames().Select(n => BuiltinPrefix + n))}");
            using var reader = new StreamReader(stream);
            return Read(YamlFile.Parse(reader.ReadToEnd(), pathOrBuiltin), pathOrBuiltin, null);
        }
        var file = YamlFile.Load(pathOrBuiltin);
        string full = Path.GetFullPath(pathOrBuiltin);
        return Read(file, full, Path.GetDirectoryName(full));
    }

    /// <summary>Parses experiment text; relative paths are resolved against <paramref name="baseDirectory"/>.</summary>
    public static Experiment Parse(string text, string sourceName, string? baseDirectory = null) =>
        Read(YamlFile.Parse(text, sourceName), sourceName, baseDirectory);

    private static Experiment Read(YamlFile file, string source, string? baseDirectory)
    {
        var root = file.Root;
        var x = new Experiment { File = file, SourcePath = source, BaseDirectory = baseDirectory };
        try
        {
            x.Name = root.String("name");
            x.Description = root.OptionalString("description");
            if (root.Section("frontEnd") is { } fe)
            {
                var f = new ClosedLoop.Control.Mea.MeaFrontEndSettings { SettingPath = "frontEnd" };
                string kind = fe.String("kind");
                if (kind != "mea") throw new SettingException("frontEnd.kind", kind, "'mea' (imaging experiments have no frontEnd section: they name their 'rois')");
                if (fe.Has("bandpassHz"))
                {
                    var band = fe.DoubleList("bandpassHz");
                    if (band.Count != 2) throw new SettingException("frontEnd.bandpassHz", $"{band.Count} values", "two values: [low, high] in Hz");
                    f.LowCutHz = band[0];
                    f.HighCutHz = band[1];
                }
                f.ThresholdSigma = fe.Double("thresholdSigma", f.ThresholdSigma);
                f.NoiseWindowS = fe.Double("noiseWindowS", f.NoiseWindowS);
                f.NoiseUpdateWeight = fe.Double("noiseUpdateWeight", f.NoiseUpdateWeight);
                f.RefractoryMs = fe.Double("refractoryMs", f.RefractoryMs);
                f.BlankMs = fe.Double("blankMs", f.BlankMs);
                f.RateTauS = fe.Double("rateTauS", f.RateTauS);
                fe.RejectUnknownKeys();
                f.Validate();
                x.FrontEnd = f;
                x.Rois = root.OptionalString("rois", "") ?? "";
                if (x.Rois.Length > 0) throw new SettingException("rois", x.Rois, "absent in an MEA experiment (frontEnd: mea): its units are the array's electrodes");
            }
            else x.Rois = root.String("rois");
            ReadSegmentation(root, x);
            x.DurationS = root.Double("durationS", 0);
            Check.InRange("durationS", x.DurationS, 0, 7 * 86_400);

            var groups = root.RequiredSection("groups");
            foreach (var key in groups.Keys)
            {
                var members = groups.StringList(key);
                if (members.Count == 0) throw new SettingException($"groups.{key}", "[]", x.FrontEnd is null ? "at least one ROI name or index" : "at least one electrode name");
                x.Groups.Add(new(key, members));
            }
            groups.RejectUnknownKeys();

            if (root.Section("traces") is { } t)
            {
                x.Traces = new()
                {
                    NeuropilCoefficient = t.Double("neuropilCoefficient", x.Traces.NeuropilCoefficient),
                    NeuropilInnerRadiusPx = t.Double("neuropilInnerRadiusPx", x.Traces.NeuropilInnerRadiusPx),
                    NeuropilOuterRadiusPx = t.Double("neuropilOuterRadiusPx", x.Traces.NeuropilOuterRadiusPx),
                };
                t.RejectUnknownKeys();
            }
            x.Traces.Validate();

            if (root.Section("dff") is { } d)
            {
                x.Dff = new()
                {
                    BaselineWindowS = d.Double("baselineWindowS", x.Dff.BaselineWindowS),
                    BaselinePercentile = d.Double("baselinePercentile", x.Dff.BaselinePercentile),
                    InitFrames = d.Int("initFrames", x.Dff.InitFrames),
                    NoiseWindowS = d.Double("noiseWindowS", x.Dff.NoiseWindowS),
                };
                d.RejectUnknownKeys();
            }
            x.Dff.Validate();

            if (root.Section("motionCorrection") is { } mc)
            {
                if (x.FrontEnd is not null) throw new SettingException("motionCorrection", "(section)", "absent in an MEA experiment (frontEnd: mea): there are no frames to correct");
                x.MotionCorrection = ReadMotionCorrection(mc);
            }

            if (root.Section("spikes") is { } sp && ReadSpikesMethod(sp, x))
            {
                var o = new ClosedLoop.Spikes.OasisSettings();
                o.Model = sp.Enum("model", o.Model);
                o.Estimate = sp.Bool("estimate", o.Estimate);
                o.DecayS = sp.Double("decayS", o.DecayS);
                o.RiseS = sp.Double("riseS", o.RiseS);
                o.NoiseSigmaDff = sp.Double("noiseSigmaDff", o.NoiseSigmaDff);
                o.LambdaSigma = sp.Double("lambdaSigma", o.LambdaSigma);
                o.MinSpikeSigma = sp.Double("minSpikeSigma", o.MinSpikeSigma);
                o.BaselinePercentile = sp.Double("baselinePercentile", o.BaselinePercentile);
                o.LookAheadFrames = sp.Int("lookAheadFrames", o.LookAheadFrames);
                o.MaxPools = sp.Int("maxPools", o.MaxPools);
                o.SpikeAmplitudeDff = sp.Double("spikeAmplitudeDff", o.SpikeAmplitudeDff);
                o.EstimateWindowS = sp.Double("estimateWindowS", o.EstimateWindowS);
                sp.RejectUnknownKeys();
                o.Validate();
                x.Spikes = o;
            }

            bool hasDetectors = root.Section("detectors") is not null;
            foreach (var (name, s) in root.SectionMap("detectors"))
            {
                string kind = s.String("kind");
                if (kind == "responseWindow")
                {
                    var rw = new ClosedLoop.Control.Mea.ResponseWindowDetectorSettings { Name = name, SettingPath = s.Path, Group = s.String("group") };
                    if (s.Has("windowMs"))
                    {
                        var window = s.DoubleList("windowMs");
                        if (window.Count != 2) throw new SettingException($"{s.Path}.windowMs", $"{window.Count} values", "two values: [start, end] in ms after each stimulus");
                        rw.WindowStartMs = window[0];
                        rw.WindowEndMs = window[1];
                    }
                    rw.MinSpikes = s.Int("minSpikes", rw.MinSpikes);
                    s.RejectUnknownKeys();
                    rw.Validate();
                    x.ResponseDetectors.Add(rw);
                    continue;
                }
                if (kind == "template")
                {
                    var tm = new TemplateMatchDetectorSettings { Name = name, SettingPath = s.Path, Group = s.String("group"), Template = s.DoubleList("template") };
                    tm.Signal = s.Enum("signal", tm.Signal);
                    tm.MinSimilarity = s.Double("minSimilarity", tm.MinSimilarity);
                    tm.MinNorm = s.Double("minNorm", tm.MinNorm);
                    tm.RefractoryS = s.Double("refractoryS", tm.RefractoryS);
                    s.RejectUnknownKeys();
                    tm.Validate();
                    x.TemplateDetectors.Add(tm);
                    continue;
                }
                if (kind == "sequence")
                {
                    var sq = new SequenceDetectorSettings { Name = name, SettingPath = s.Path, Steps = s.StringList("steps") };
                    sq.Signal = s.Enum("signal", sq.Signal);
                    sq.Threshold = s.Double("threshold", sq.Threshold);
                    sq.MinActive = s.Int("minActive", sq.MinActive);
                    sq.MaxIntervalS = s.Double("maxIntervalS", sq.MaxIntervalS);
                    sq.RefractoryS = s.Double("refractoryS", sq.RefractoryS);
                    s.RejectUnknownKeys();
                    sq.Validate();
                    x.SequenceDetectors.Add(sq);
                    continue;
                }
                if (kind != "groupActivity")
                    throw new SettingException($"{s.Path}.kind", kind, "one of 'groupActivity' (co-activation of a group), 'responseWindow', 'template', 'sequence'");
                var det = new GroupActivityDetectorSettings
                {
                    Name = name,
                    SettingPath = s.Path,
                    Group = s.String("group"),
                };
                det.ThresholdDff = s.Double("thresholdDff", det.ThresholdDff);
                det.MinActive = s.Int("minActive", det.MinActive);
                det.MinFrames = s.Int("minFrames", det.MinFrames);
                det.RefractoryS = s.Double("refractoryS", det.RefractoryS);
                s.RejectUnknownKeys();
                det.Validate();
                x.Detectors.Add(det);
            }
            root.Section("detectors")?.RejectUnknownKeys();
            if (x.DetectorNames.Count() != x.DetectorNames.Distinct().Count())
                throw new SettingException("detectors", string.Join(", ", x.DetectorNames), "distinct names");
            bool pong = root.Section("protocol") is { } pk && pk.OptionalString("kind") == "pong";
            bool observe = root.Section("protocol") is { } ok && ok.OptionalString("kind") == "observe";
            bool engine = UsesEngine(root);
            if (!x.DetectorNames.Any() && !pong && !observe && !engine) throw new SettingException("detectors", hasDetectors ? "(none)" : null, "at least one detector");
            ReadStimuli(root, x);

            if (engine)
            {
                if (x.IsOnline)
                    throw new SettingException(root.Has("phases") ? "phases" : "protocol.kind", root.Has("phases") ? "(section)" : "rules", "a protocol of kind 'observe' when rois is 'online': stimulation targets need ROI positions");
                ReadPhases(root, x);
            }
            else
            {
                if (x.Stimuli.Count > 0)
                    throw new SettingException("stimuli", string.Join(", ", x.Stimuli.Select(st => st.Name)), "absent unless rules use them (a 'phases' list or protocol kind 'rules'): the built-in protocols declare their own pulse");
                var p = root.RequiredSection("protocol");
                string protocolKind = p.String("kind");
                if (protocolKind == "pong") x.Pong = ReadPong(p);
                else if (protocolKind == "observe") ReadObserve(p, x);
                else if (protocolKind != "stimulusAvoidance")
                    throw new SettingException("protocol.kind", protocolKind, "'stimulusAvoidance', 'pong', 'observe', 'rules' (trigger → action rules) or 'bakkum' (CPS/PTS/SBS)");
                if (x.IsOnline && !x.Observe)
                    throw new SettingException("protocol.kind", protocolKind, "'observe' when rois is 'online': stimulation targets need ROI positions, and no ROI exists before the segmentation has found it");
                if (x.Pong is null && !x.Observe) x.Protocol = ReadAvoidanceSettings(p);
                if (x.Pong is null && (x.Observe || x.Protocol.Trials == 0) && x.DurationS == 0)
                    throw new SettingException("durationS", 0, "> 0 when protocol.trials is 0 (otherwise the run would never end by itself)");
            }

            if (root.Section("pipeline") is { } pl)
            {
                x.Pipeline = new PipelineSettings
                {
                    InputLinkCapacity = pl.Int("inputLinkCapacity", x.Pipeline.InputLinkCapacity),
                    FramePoolCapacity = pl.Int("framePoolCapacity", x.Pipeline.FramePoolCapacity),
                    WarmupFrames = pl.Int("warmupFrames", x.Pipeline.WarmupFrames),
                    RealtimeScheduling = pl.Bool("realtimeScheduling", x.Pipeline.RealtimeScheduling),
                };
                pl.RejectUnknownKeys();
            }
            x.Pipeline.Validate();
            root.RejectUnknownKeys();
        }
        catch (SettingException ex)
        {
            throw ex.Location is null ? file.Locate(ex) : ex;
        }
        return x;
    }

    private static ClosedLoop.Imaging.Registration.MotionCorrectionSettings ReadMotionCorrection(YamlSection s)
    {
        var m = new ClosedLoop.Imaging.Registration.MotionCorrectionSettings();
        m.Mode = s.Enum("mode", m.Mode);
        m.PatchPx = s.Int("patchPx", m.PatchPx);
        m.Binning = s.Int("binning", m.Binning);
        m.ReferenceFrames = s.Int("referenceFrames", m.ReferenceFrames);
        m.ReferenceUpdateRate = s.Double("referenceUpdateRate", m.ReferenceUpdateRate);
        m.MaxShiftPx = s.Double("maxShiftPx", m.MaxShiftPx);
        m.ConfidenceThreshold = s.Double("confidenceThreshold", m.ConfidenceThreshold);
        m.GridX = s.Int("gridX", m.GridX);
        m.GridY = s.Int("gridY", m.GridY);
        m.PiecewisePatchPx = s.Int("piecewisePatchPx", m.PiecewisePatchPx);
        m.MaxPatchDeviationPx = s.Double("maxPatchDeviationPx", m.MaxPatchDeviationPx);
        s.RejectUnknownKeys();
        m.Validate();
        return m;
    }

    /// <summary><c>protocol: {kind: observe}</c>: no stimulation, no settings of its own.</summary>
    private static void ReadObserve(YamlSection p, Experiment x)
    {
        p.RejectUnknownKeys();
        x.Observe = true;
    }

    /// <summary>The <c>spikes.method</c> key: <c>oasis</c> (default) returns true for the OASIS keys to be read;
    /// <c>cnn</c> reads the CNN keys into <see cref="Experiment.SpikesCnn"/> and returns false.</summary>
    private static bool ReadSpikesMethod(YamlSection sp, Experiment x)
    {
        string method = sp.OptionalString("method", "oasis") ?? "oasis";
        if (method == "oasis") return true;
        if (method != "cnn") throw new SettingException(sp.PathOf("method"), method, "oasis (default) or cnn");
        var c = new ClosedLoop.Spikes.Cnn.CnnSpikeSettings();
        if (sp.Has("models"))
            c.Models = sp.StringList("models").Select(m => x.BaseDirectory is null || Path.IsPathRooted(m) ? m : Path.Combine(x.BaseDirectory, m)).ToList();
        c.NormWindowS = sp.Double("normWindowS", c.NormWindowS);
        c.NormWarmupS = sp.Double("normWarmupS", c.NormWarmupS);
        c.RefitPeriodS = sp.Double("refitPeriodS", c.RefitPeriodS);
        sp.RejectUnknownKeys();
        c.Validate();
        x.SpikesCnn = c;
        return false;
    }

    /// <summary>The <c>segmentation:</c> section, which goes with <c>rois: online</c> (defaults when absent).</summary>
    private static void ReadSegmentation(YamlSection root, Experiment x)
    {
        var sg = root.Section("segmentation");
        if (!x.IsOnline)
        {
            if (sg is not null) throw new SettingException("segmentation", x.Rois, "absent unless rois is 'online' (the ROIs of this experiment are fixed)");
            return;
        }
        var o = new ClosedLoop.Imaging.OnlineSegmentationSettings();
        if (sg is not null)
        {
            string model = sg.OptionalString("model", "default") ?? "default";
            o.ModelPath = model == "default" ? null : model.Length == 0 ? "" : x.BaseDirectory is null || Path.IsPathRooted(model) ? model : Path.Combine(x.BaseDirectory, model);
            o.Backend = sg.Enum("backend", o.Backend);
            var m = o.Masks;
            o.Masks = m with
            {
                InitialFrames = sg.Int("initialFrames", m.InitialFrames),
                UpdateEveryFrames = sg.Int("updateEveryFrames", m.UpdateEveryFrames),
                ProbabilityThreshold = sg.Double("probabilityThreshold", m.ProbabilityThreshold),
                MinAreaPx = sg.Int("minAreaPx", m.MinAreaPx),
                MaxAreaPx = sg.Int("maxAreaPx", m.MaxAreaPx),
                MergeIou = sg.Double("mergeIou", m.MergeIou),
                MergeConsume = sg.Double("mergeConsume", m.MergeConsume),
                MergeCentroidDistancePx = sg.Double("mergeCentroidDistancePx", m.MergeCentroidDistancePx),
                MaskFraction = sg.Double("maskFraction", m.MaskFraction),
                MinConsecutiveFrames = sg.Int("minConsecutiveFrames", m.MinConsecutiveFrames),
                DeletedOverlap = sg.Double("deletedOverlap", m.DeletedOverlap),
            };
            o.MaxRois = sg.Int("maxRois", o.MaxRois);
            o.BatchFrames = sg.Int("batchFrames", o.BatchFrames);
            o.QueueFrames = sg.Int("queueFrames", o.QueueFrames);
            sg.RejectUnknownKeys();
        }
        o.Validate();
        x.Segmentation = o;
    }

    private static StimulusAvoidanceSettings ReadAvoidanceSettings(YamlSection p)
    {
        var proto = new StimulusAvoidanceSettings
        {
            SettingPath = p.Path,
            Stimulator = p.String("stimulator"),
            Targets = p.String("targets"),
            Detector = p.String("detector"),
        };
        proto.StimulusRateHz = p.Double("stimulusRateHz", proto.StimulusRateHz);
        if (p.Has("responseWindowS"))
        {
            var window = p.DoubleList("responseWindowS");
            if (window.Count != 2) throw new SettingException($"{p.Path}.responseWindowS", $"{window.Count} values", "two values: [start, end] in s after each stimulus");
            proto.ResponseWindowStartS = window[0];
            proto.ResponseWindowEndS = window[1];
        }
        proto.PauseS = p.Double("pauseS", proto.PauseS);
        proto.MaxTrialS = p.Double("maxTrialS", proto.MaxTrialS);
        proto.Trials = p.Int("trials", proto.Trials);
        proto.WarmUpS = p.Double("warmUpS", proto.WarmUpS);
        proto.OpenLoop = ReadControl(p, "stimulation stops at the response", "stimulation runs the whole trial whatever the response");
        if (p.Section("pulse") is { } pulse)
        {
            proto.PowerMw = pulse.Double("powerMw", proto.PowerMw);
            proto.PulseWidthMs = pulse.Double("widthMs", proto.PulseWidthMs);
            proto.PulseCount = pulse.Int("count", proto.PulseCount);
            proto.PulseRateHz = pulse.Double("rateHz", proto.PulseRateHz);
            proto.AmplitudeUa = pulse.Double("amplitudeUa", proto.AmplitudeUa);
            proto.PhaseUs = pulse.Double("phaseUs", proto.PhaseUs);
            pulse.RejectUnknownKeys();
        }
        p.RejectUnknownKeys();
        proto.Validate();
        return proto;
    }

    private static ClosedLoop.Control.Mea.PongSettings ReadPong(YamlSection p)
    {
        var g = new ClosedLoop.Control.Mea.PongSettings
        {
            SettingPath = p.Path,
            Stimulator = p.String("stimulator"),
            Sensory = p.String("sensory"),
            MotorUp = p.String("motorUp"),
            MotorDown = p.String("motorDown"),
        };
        if (p.Has("control")) g.Condition = ClosedLoop.Control.Mea.PongConditions.Parse(p.String("control"), "protocol.control");
        g.Games = p.Int("games", g.Games);
        g.WarmUpS = p.Double("warmUpS", g.WarmUpS);
        g.BallSpeedPerS = p.Double("ballSpeedPerS", g.BallSpeedPerS);
        g.PaddleHalfHeight = p.Double("paddleHalfHeight", g.PaddleHalfHeight);
        g.PaddleGainPerHz = p.Double("paddleGainPerHz", g.PaddleGainPerHz);
        g.MotorBaselineS = p.Double("motorBaselineS", g.MotorBaselineS);
        if (p.Has("sensoryRateHz"))
        {
            var r = p.DoubleList("sensoryRateHz");
            if (r.Count != 2) throw new SettingException($"{p.Path}.sensoryRateHz", $"{r.Count} values", "two values: [far, near] in Hz");
            g.MinRateHz = r[0];
            g.MaxRateHz = r[1];
        }
        if (p.Section("hitFeedback") is { } hit)
        {
            g.HitFeedbackRateHz = hit.Double("rateHz", g.HitFeedbackRateHz);
            g.HitFeedbackS = hit.Double("durationS", g.HitFeedbackS);
            if (hit.Has("amplitudeUa")) g.HitFeedbackAmplitudeUa = hit.Double("amplitudeUa");
            hit.RejectUnknownKeys();
        }
        if (p.Section("missFeedback") is { } miss)
        {
            g.MissFeedbackRateHz = miss.Double("rateHz", g.MissFeedbackRateHz);
            g.MissFeedbackS = miss.Double("durationS", g.MissFeedbackS);
            if (miss.Has("amplitudeUa")) g.MissFeedbackAmplitudeUa = miss.Double("amplitudeUa");
            miss.RejectUnknownKeys();
        }
        g.RestS = p.Double("restS", g.RestS);
        g.Seed = p.Int("seed", g.Seed);
        if (p.Section("pulse") is { } pulse)
        {
            g.AmplitudeUa = pulse.Double("amplitudeUa", g.AmplitudeUa);
            g.PhaseUs = pulse.Double("phaseUs", g.PhaseUs);
            pulse.RejectUnknownKeys();
        }
        p.RejectUnknownKeys();
        g.Validate();
        return g;
    }
}
