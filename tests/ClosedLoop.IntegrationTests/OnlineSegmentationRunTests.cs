using System.Text.Json;
using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.IntegrationTests;

/// <summary>
/// Stand-in for the real online segmentation (the plumbing's double): after <c>initFrames</c> frames it "finds" the
/// virtual tissue's neurons 0 and 1 (ids 0, 1), after twice that it refines id 0 (one pixel fewer), after three times
/// that it finds neuron 2 (id 2). Lock, add and delete follow the contract.
/// </summary>
internal sealed class TissueRevealingSegmentation(Footprints truth, int initFrames) : IOnlineSegmentation
{
    private readonly object _gate = new();
    private readonly SortedDictionary<int, TrackedRoi> _rois = new();
    private int _next;
    private long _seen, _version;

    public int WidthPx => truth.WidthPx;
    public int HeightPx => truth.HeightPx;
    public long FramesSeen { get { lock (_gate) return _seen; } }
    public bool Initialised { get { lock (_gate) return _seen >= initFrames; } }
    public long Version { get { lock (_gate) return _version; } }

    public void Push(ReadOnlySpan<ushort> frames, int count)
    {
        lock (_gate)
        {
            long before = _seen;
            _seen += count;
            bool Crossed(long n) => before < n && _seen >= n;
            if (Crossed(initFrames)) { Found(Mask(0)); Found(Mask(1)); }
            if (Crossed(2L * initFrames) && _rois.TryGetValue(0, out var r) && !r.Locked) { _rois[0] = r with { PixelIndices = Mask(0)[1..] }; _version++; }
            if (Crossed(3L * initFrames)) Found(Mask(2));
        }
    }

    public int[] Mask(int neuron) => truth.PixelsOf(neuron).ToArray().Order().ToArray();

    private void Found(int[] mask) { int id = _next++; _rois[id] = new TrackedRoi(id, mask, false, false, 1); _version++; }

    public IReadOnlyList<TrackedRoi> Snapshot() { lock (_gate) return _rois.Values.ToList(); }

    public bool Lock(int id, bool locked)
    {
        lock (_gate)
        {
            if (!_rois.TryGetValue(id, out var r)) return false;
            _rois[id] = r with { Locked = locked };
            _version++;
            return true;
        }
    }

    public int Add(int[] pixelIndices)
    {
        lock (_gate) { int id = _next++; _rois[id] = new TrackedRoi(id, pixelIndices, true, true, 0); _version++; return id; }
    }

    public bool Delete(int id)
    {
        lock (_gate) { if (!_rois.Remove(id)) return false; _version++; return true; }
    }

    public void Dispose() { }
}

public sealed class OnlineSegmentationRunTests
{
    private static string OnlineExperiment(Harness h, Func<string, string> edit, string name = "online.yaml")
    {
        using var s = typeof(ExperimentLoader).Assembly.GetManifestResourceStream("experiments/online-segmentation.yaml")!;
        string path = Path.Combine(h.Folder, name);
        File.WriteAllText(path, edit(new StreamReader(s).ReadToEnd()));
        return path;
    }

    [Fact]
    public void Run_OnlineRois_TracesAppearAfterInitialisation_UserEditsApplyAndAreRecorded()
    {
        using var h = new Harness();
        string profile = h.ProfileWithPatientWatchdog();
        string experiment = OnlineExperiment(h, e => e.Replace("initialFrames: 300", "initialFrames: 15").Replace("updateEveryFrames: 30", "updateEveryFrames: 5")
            .Replace("batchFrames: 8", "batchFrames: 1"));
        var truth = Footprints.Load("builtin:YST_part11", 120, 88);
        TissueRevealingSegmentation? made = null;
        OnlineSegmentationFactory factory = (settings, height, width, rateHz) =>
            new OnlineSegmentationInstance(made = new TissueRevealingSegmentation(truth, settings.Masks.InitialFrames), "tissue-revealing double");
        var edits = new List<RoiEditReply>();
        Exception? editError = null;
        RunReport? report = null;

        int code = RunCommand.Execute(new RunOptions(profile, experiment, 3.5, SimulationPacing.Realtime, h.RunFolder, Quiet: true, SegmentationFactory: factory),
            h.Console, CancellationToken.None, r => report = r, new LiveServices(Record: true), host => Task.Run(() =>
            {
                try
                {
                    // Once the double has found neuron 2 (id 2), edit through remote control while frames go on.
                    var deadline = DateTime.UtcNow.AddSeconds(30);
                    while ((made is null || made.Version < 4) && DateTime.UtcNow < deadline) Thread.Sleep(5);
                    var n10 = truth.PixelsOf(10).ToArray();
                    double x = n10.Average(p => p % truth.WidthPx), y = n10.Average(p => p / truth.WidthPx);
                    edits.Add(host.EditRoi(new RoiEditRequest(RoiEditAction.Add, CenterXPx: x, CenterYPx: y, RadiusPx: 3)));
                    edits.Add(host.EditRoi(new RoiEditRequest(RoiEditAction.Lock, Id: 1)));
                    edits.Add(host.EditRoi(new RoiEditRequest(RoiEditAction.Delete, Id: 2)));
                    var unknown = Assert.Throws<ControlException>(() => host.EditRoi(new RoiEditRequest(RoiEditAction.Delete, Id: 2)));
                    Assert.Equal("unknown-roi", unknown.Code);
                }
                catch (Exception ex) { editError = ex; }
            }));

        Assert.True(code == 0, h.Output);
        Assert.Null(editError);
        Assert.Equal([3, 1, 2], edits.Select(e => e.Id));
        var seg = report!.OnlineSegmentation!;
        Assert.True(seg.Initialised);
        Assert.Equal(3, seg.RoisAtEnd); // ids 0, 1, 3 (2 deleted)
        Assert.Equal(3, seg.UserEdits);
        Assert.True(seg.Updates >= 3);
        Assert.True(seg.UpdateLatencyP99Ms is > 0);

        // activity.csv: one column per unit; unit 0 is NaN before initialisation and a number after, unit 2 NaN after its deletion.
        var rows = File.ReadAllLines(Path.Combine(h.RunFolder, "activity.csv"));
        var header = rows[0].Split(',');
        int c0 = Array.IndexOf(header, "roi000"), c2 = Array.IndexOf(header, "roi002"), c3 = Array.IndexOf(header, "roi003");
        Assert.Equal(3 + 256, header.Length);
        Assert.Equal("NaN", rows[1].Split(',')[c0]);
        var last = rows[^1].Split(',');
        Assert.NotEqual("NaN", last[c0]);
        Assert.Equal("NaN", last[c2]);
        Assert.NotEqual("NaN", last[c3]);

        // rois.json: the final masks in the masks layout, by unit name.
        using var rois = JsonDocument.Parse(File.ReadAllText(Path.Combine(h.RunFolder, "rois.json")));
        Assert.Equal(["roi000", "roi001", "roi003"], rois.RootElement.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(made!.Mask(0)[1..], rois.RootElement.GetProperty("masks")[0].EnumerateArray().Select(p => p.GetInt32()));
        Assert.Equal(120, rois.RootElement.GetProperty("width").GetInt32());

        var messages = h.EventsJson().Where(e => e.GetProperty("source").GetString() == "segmentation").Select(e => e.GetProperty("message").GetString()!).ToList();
        Assert.Contains(messages, m => m.StartsWith("initialised after", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("user added roi003 (circle", StringComparison.Ordinal));
        Assert.Contains("user locked roi001", messages);
        Assert.Contains("user deleted roi002", messages);
        Assert.Contains("online segmentation", h.Output);
    }

    [Fact]
    public void Build_OnlineRois_BadSettingsAreRefusedNamingTheField()
    {
        using var h = new Harness();
        string Refusal(string experiment)
        {
            var ex = Assert.Throws<SettingException>(() => Session.Build(new RunOptions("builtin:sim-two-photon", experiment)).Dispose());
            return ex.Message;
        }

        Assert.Contains("segmentation.maxRois", Refusal(OnlineExperiment(h, e => e.Replace("maxRois: 256", "maxRois: 0"), "a.yaml")));
        Assert.Contains("protocol.kind", Refusal(OnlineExperiment(h, e => e.Replace("kind: observe ", "kind: stimulusAvoidance\n  stimulator: photostim\n  targets: firstFound\n  detector: coactive\n  trials: 1 "), "b.yaml")));
        string group = Refusal(OnlineExperiment(h, e => e.Replace("maxRois: 256", "maxRois: 4"), "c.yaml"));
        Assert.True(group.Contains("groups.firstFound[4]"), group);
        Assert.Contains("roi000..roi003", group);
        Assert.Contains("absent unless rois is 'online'", Refusal(h.Experiment(e => e + "\nsegmentation:\n  maxRois: 8\n", "d.yaml")));
        // A model file that is not there: refused before any frame, naming the setting and the file.
        string model = Refusal(OnlineExperiment(h, e => e.Replace("model: default", "model: no-such-model.onnx"), "e.yaml"));
        Assert.Contains("segmentation.model", model);
        Assert.Contains("no-such-model.onnx", model);
        // The shipped model builds (and is closed again) for the default rig.
        Session.Build(new RunOptions("builtin:sim-two-photon", OnlineExperiment(h, e => e, "f.yaml"))).Dispose();
    }
}
