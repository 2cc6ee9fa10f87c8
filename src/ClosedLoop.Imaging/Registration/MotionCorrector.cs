using System.Numerics;
using System.Numerics.Tensors;

namespace ClosedLoop.Imaging.Registration;

/// <summary>
/// Online motion correction of uint16 frames of one size, in place: bins the frame, registers it against a running
/// reference (rigid on the central patch; piecewise-rigid adds a grid of patches whose shifts form a smooth field),
/// resamples the frame and updates the reference. Everything is allocated in the constructor; <see cref="Correct"/>
/// allocates nothing.
/// <para><b>Reference.</b> The first <see cref="MotionCorrectionSettings.ReferenceFrames"/> frames build the reference and
/// are not corrected: each is binned, registered to the mean of the ones before it, shifted back and averaged in (a
/// low-confidence one is left out). Shifts are therefore measured relative to the position of the first frame.
/// Afterwards every frame whose rigid estimate is trusted and not clipped is blended into the reference, after
/// correction, with weight <see cref="MotionCorrectionSettings.ReferenceUpdateRate"/>; the reference spectrum of one
/// patch is recomputed per frame, in turn.</para>
/// <para><b>Low confidence.</b> A frame whose peak-to-sidelobe ratio is below the threshold is corrected by the last
/// trusted shift (0 before any), flagged, and not blended into the reference; a piecewise patch below it takes the
/// frame's rigid shift. After <see cref="LostAfterFrames"/> consecutive low-confidence frames the reference is given up
/// and rebuilt from the frames that follow (they are not corrected meanwhile); a reference whose frames mostly failed to
/// match the first of them is started again.</para>
/// </summary>
public sealed class MotionCorrector
{
    private readonly MotionCorrectionSettings _s;
    private readonly int _w, _h, _bin;
    private readonly int _regionX0, _regionY0, _regionW, _regionH; // region in frame px (origin) and binned px (size)
    private readonly float[] _binned, _reference, _work, _rowSum;
    private readonly float[] _accumulated;
    private readonly ushort[] _scratch;
    private readonly PhaseCorrelation _rigid;
    private readonly int _rigidX0, _rigidY0;
    private readonly PhaseCorrelation[] _patches = [];
    private readonly int[] _patchX0 = [], _patchY0 = [];
    private readonly double _maxShiftBinned, _maxDeviationBinned;
    private int _referenceSeen, _referenceUsed;
    private bool _hasReference;
    private int _refresh;
    private double _lastDx, _lastDy;
    private int _lowRun;

    /// <summary>Creates the corrector for <paramref name="widthPx"/> × <paramref name="heightPx"/> frames. Throws
    /// <see cref="ClosedLoop.Core.SettingException"/> for settings out of range or patches that do not fit the frame.</summary>
    public MotionCorrector(MotionCorrectionSettings settings, int widthPx, int heightPx)
    {
        settings.Validate(widthPx, heightPx);
        if (settings.Mode == MotionCorrectionMode.None) throw new ArgumentException("mode none has nothing to correct", nameof(settings));
        _s = settings;
        _w = widthPx;
        _h = heightPx;
        _bin = settings.Binning;
        int p = settings.PatchPx;
        if (settings.Mode == MotionCorrectionMode.PiecewiseRigid)
        {
            _regionW = widthPx / _bin;
            _regionH = heightPx / _bin;
            _regionX0 = (widthPx - _regionW * _bin) / 2;
            _regionY0 = (heightPx - _regionH * _bin) / 2;
        }
        else
        {
            // The central patch plus a margin, so the patch can follow the content (see PhaseCorrelation).
            int margin = (int)Math.Ceiling(settings.MaxShiftPx / _bin) + 2;
            _regionW = Math.Min(widthPx / _bin, p + 2 * margin);
            _regionH = Math.Min(heightPx / _bin, p + 2 * margin);
            _regionX0 = (widthPx - _regionW * _bin) / 2;
            _regionY0 = (heightPx - _regionH * _bin) / 2;
        }
        int region = _regionW * _regionH;
        _binned = new float[region];
        _reference = new float[region];
        _work = new float[region];
        _rowSum = new float[_regionW * _bin];
        _accumulated = new float[region];
        _scratch = new ushort[widthPx * heightPx];
        _rigid = new PhaseCorrelation(p);
        _rigidX0 = (_regionW - p) / 2;
        _rigidY0 = (_regionH - p) / 2;
        _maxShiftBinned = settings.MaxShiftPx / _bin;
        _maxDeviationBinned = settings.MaxPatchDeviationPx / _bin;

        if (settings.Mode == MotionCorrectionMode.PiecewiseRigid)
        {
            int gx = settings.GridX, gy = settings.GridY, pp = settings.PiecewisePatchPx;
            _patches = new PhaseCorrelation[gx * gy];
            _patchX0 = new int[gx * gy];
            _patchY0 = new int[gx * gy];
            var nodeX = new double[gx];
            var nodeY = new double[gy];
            for (int ix = 0; ix < gx; ix++)
            {
                int x0 = (int)Math.Round(ix * (_regionW - pp) / (double)(gx - 1));
                nodeX[ix] = FramePx(x0 + (pp - 1) / 2.0, _regionX0);
                for (int iy = 0; iy < gy; iy++) _patchX0[iy * gx + ix] = x0;
            }
            for (int iy = 0; iy < gy; iy++)
            {
                int y0 = (int)Math.Round(iy * (_regionH - pp) / (double)(gy - 1));
                nodeY[iy] = FramePx(y0 + (pp - 1) / 2.0, _regionY0);
                for (int ix = 0; ix < gx; ix++) _patchY0[iy * gx + ix] = y0;
            }
            for (int i = 0; i < _patches.Length; i++) _patches[i] = new PhaseCorrelation(pp);
            // Patches of a very small binned frame may coincide; keep node positions strictly increasing.
            for (int i = 1; i < gx; i++) if (nodeX[i] <= nodeX[i - 1]) nodeX[i] = nodeX[i - 1] + 1e-3;
            for (int i = 1; i < gy; i++) if (nodeY[i] <= nodeY[i - 1]) nodeY[i] = nodeY[i - 1] + 1e-3;
            Field = new ShiftField(widthPx, heightPx, nodeX, nodeY);
        }
    }

    /// <summary>Consecutive low-confidence frames after which the reference is given up and rebuilt: twice
    /// <see cref="MotionCorrectionSettings.ReferenceFrames"/>, at least 30.</summary>
    public int LostAfterFrames => Math.Max(30, 2 * _s.ReferenceFrames);

    /// <summary>Times the reference was given up and rebuilt.</summary>
    public int ReferencesRebuilt { get; private set; }

    /// <summary>The settings in use.</summary>
    public MotionCorrectionSettings Settings => _s;

    /// <summary>True once the reference has been built (frames are corrected from then on).</summary>
    public bool HasReference => _hasReference;

    /// <summary>Reference frames that were registered and averaged into the initial reference (the others had low
    /// confidence); valid once <see cref="HasReference"/>.</summary>
    public int ReferenceFramesUsed => _referenceUsed;

    /// <summary>The piecewise shift field of the last frame (null in rigid mode).</summary>
    public ShiftField? Field { get; }

    /// <summary>The running reference, binned (<see cref="ReferenceWidthPx"/> × <see cref="ReferenceHeightPx"/>).</summary>
    public ReadOnlySpan<float> Reference => _reference;

    /// <summary>Width of the binned reference, binned px.</summary>
    public int ReferenceWidthPx => _regionW;

    /// <summary>Height of the binned reference, binned px.</summary>
    public int ReferenceHeightPx => _regionH;

    /// <summary>Corrects <paramref name="pixels"/> (row-major, the constructor's size) in place and says what was done.</summary>
    public MotionSample Correct(Span<ushort> pixels)
    {
        if (pixels.Length != _w * _h) throw new ArgumentException($"the corrector was built for {_w}×{_h} px frames; got {pixels.Length} pixels");
        if (!_hasReference)
        {
            AddReferenceFrame(pixels);
            return new MotionSample(double.NaN, double.NaN, double.NaN, false, false, true, 0);
        }

        Bin(pixels, _binned);
        var est = _rigid.Estimate(_binned, _regionW, _rigidX0, _rigidY0, _maxShiftBinned);
        bool low = est.Confidence < _s.ConfidenceThreshold;
        double dx = est.DxPx * _bin, dy = est.DyPx * _bin;
        if (low) { dx = _lastDx; dy = _lastDy; }
        else { _lastDx = dx; _lastDy = dy; }
        _lowRun = low ? _lowRun + 1 : 0;
        if (_lowRun >= LostAfterFrames)
        {
            // Nothing has matched the reference for a long time (the field changed, or the light was off): build a
            // new one from the frames to come. Shifts are then relative to the new reference.
            _hasReference = false;
            _referenceSeen = 0;
            _lowRun = 0;
            _lastDx = _lastDy = 0;
            ReferencesRebuilt++;
        }

        int lowPatches = 0;
        if (Field is { } field)
        {
            double cx = dx / _bin, cy = dy / _bin;
            for (int i = 0; i < _patches.Length; i++)
            {
                var pe = _patches[i].Estimate(_binned, _regionW, _patchX0[i], _patchY0[i], _maxShiftBinned, cx, cy, _maxDeviationBinned);
                if (pe.Confidence < _s.ConfidenceThreshold || pe.Clipped)
                {
                    lowPatches++;
                    field.DxPx[i] = (float)dx;
                    field.DyPx[i] = (float)dy;
                }
                else
                {
                    field.DxPx[i] = (float)(pe.DxPx * _bin);
                    field.DyPx[i] = (float)(pe.DyPx * _bin);
                }
            }
            FrameWarp.Field(pixels, _scratch, field);
        }
        else
        {
            FrameWarp.Rigid(pixels, _scratch, _w, _h, dx, dy);
        }

        if (!low && !est.Clipped && _s.ReferenceUpdateRate > 0)
        {
            Bin(pixels, _binned);
            TensorPrimitives.Lerp(_reference, _binned, (float)_s.ReferenceUpdateRate, _reference);
            RefreshOneReference();
        }
        return new MotionSample(dx, dy, est.Confidence, low, est.Clipped, false, lowPatches);
    }

    /// <summary>Frame coordinate of a binned coordinate (centre of the binned pixel).</summary>
    private double FramePx(double binnedPx, int origin) => origin + binnedPx * _bin + (_bin - 1) / 2.0;

    /// <summary>Averages Binning × Binning blocks of the region into <paramref name="dst"/>.</summary>
    private void Bin(ReadOnlySpan<ushort> pixels, Span<float> dst)
    {
        int b = _bin, w = _w, rw = _regionW;
        float scale = 1f / (b * b);
        for (int by = 0; by < _regionH; by++)
        {
            var o = dst.Slice(by * rw, rw);
            int y = _regionY0 + by * b;
            if (b == 1)
            {
                var row = pixels.Slice(y * w + _regionX0, rw);
                for (int x = 0; x < rw; x++) o[x] = row[x];
                continue;
            }
            if (b == 2)
            {
                // Rows summed with SIMD, then neighbouring columns.
                var r0 = pixels.Slice(y * w + _regionX0, 2 * rw);
                var r1 = pixels.Slice((y + 1) * w + _regionX0, 2 * rw);
                var sum = _rowSum.AsSpan(0, 2 * rw);
                int i = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    int vc = Vector<ushort>.Count;
                    for (; i + vc <= sum.Length; i += vc)
                    {
                        Vector.Widen(new Vector<ushort>(r0[i..]), out var a0, out var a1);
                        Vector.Widen(new Vector<ushort>(r1[i..]), out var b0, out var b1);
                        Vector.ConvertToSingle(Vector.AsVectorInt32(a0 + b0)).CopyTo(sum[i..]);
                        Vector.ConvertToSingle(Vector.AsVectorInt32(a1 + b1)).CopyTo(sum[(i + vc / 2)..]);
                    }
                }
                for (; i < sum.Length; i++) sum[i] = r0[i] + r1[i];
                for (int x = 0; x < rw; x++) o[x] = (sum[2 * x] + sum[2 * x + 1]) * scale;
                continue;
            }
            for (int x = 0; x < rw; x++)
            {
                int sum = 0;
                for (int dy = 0; dy < b; dy++)
                {
                    var row = pixels.Slice((y + dy) * w + _regionX0 + x * b, b);
                    for (int dx = 0; dx < b; dx++) sum += row[dx];
                }
                o[x] = sum * scale;
            }
        }
    }

    /// <summary>One frame of the initial reference: registered (rigid) to the mean of the frames before it, shifted back
    /// and added to that mean; low-confidence ones are left out. The cost per frame is that of a corrected frame, so
    /// building the reference never stalls the loop.</summary>
    private void AddReferenceFrame(ReadOnlySpan<ushort> pixels)
    {
        Bin(pixels, _binned);
        if (_referenceSeen++ == 0)
        {
            _binned.AsSpan().CopyTo(_accumulated);
            _referenceUsed = 1;
        }
        else
        {
            var est = _rigid.Estimate(_binned, _regionW, _rigidX0, _rigidY0, _maxShiftBinned);
            if (est.Confidence >= _s.ConfidenceThreshold && !est.Clipped)
            {
                FrameWarp.Rigid(_binned, _work, _regionW, _regionH, est.DxPx, est.DyPx);
                TensorPrimitives.Add(_accumulated, _work, _accumulated);
                _referenceUsed++;
            }
        }
        TensorPrimitives.Multiply(_accumulated, 1f / _referenceUsed, _reference);
        _rigid.SetReference(_reference, _regionW, _rigidX0, _rigidY0);
        if (_referenceSeen < _s.ReferenceFrames) return;
        if (2 * _referenceUsed < _s.ReferenceFrames)
        {
            // Most of these frames did not match the first one (e.g. it was blank): start again from the next frame.
            _referenceSeen = 0;
            return;
        }
        for (int i = 0; i < _patches.Length; i++) _patches[i].SetReference(_reference, _regionW, _patchX0[i], _patchY0[i]);
        _hasReference = true;
    }

    /// <summary>Recomputes one patch's reference spectrum from the running reference (the rigid patch, then each piecewise
    /// patch, in turn).</summary>
    private void RefreshOneReference()
    {
        int i = _refresh;
        _refresh = _refresh == _patches.Length ? 0 : _refresh + 1;
        if (i == 0) _rigid.SetReference(_reference, _regionW, _rigidX0, _rigidY0);
        else _patches[i - 1].SetReference(_reference, _regionW, _patchX0[i - 1], _patchY0[i - 1]);
    }
}
