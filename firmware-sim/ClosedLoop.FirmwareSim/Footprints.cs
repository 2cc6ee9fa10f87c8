using System.Globalization;
using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// Neuron footprints of a field of view: for every neuron the pixels it covers (index = row * width + col), a soft
/// brightness profile over them (1 at the centre, about 0.6 at the edge) and its centroid (x = column, y = row, in
/// pixels). Immutable once built; loaded from a masks JSON file, from one shipped with firmware-sim
/// (<c>builtin:YST_part11</c>, <c>builtin:YST_part12</c>, <c>builtin:YST_part21</c>) or generated procedurally.
/// </summary>
public sealed class Footprints
{
    /// <summary>Prefix of the names of the shipped mask sets.</summary>
    public const string BuiltinPrefix = "builtin:";

    /// <summary>Value of <see cref="TissueProfile.Footprints"/> that asks for procedurally generated somata.</summary>
    public const string GeneratedName = "generated";

    /// <summary>Weight of a footprint's outermost pixels relative to its centre.</summary>
    public const float EdgeWeight = 0.6f;

    private static readonly string[] Builtins = ["YST_part11", "YST_part12", "YST_part21"];

    private readonly int[] _offsets;
    private readonly int[] _pixels;
    private readonly float[] _weights;
    private readonly float[] _centroidXPx;
    private readonly float[] _centroidYPx;

    private Footprints(string source, int widthPx, int heightPx, int[] offsets, int[] pixels, float[] weights,
        float[] centroidXPx, float[] centroidYPx)
    {
        Source = source;
        WidthPx = widthPx;
        HeightPx = heightPx;
        _offsets = offsets;
        _pixels = pixels;
        _weights = weights;
        _centroidXPx = centroidXPx;
        _centroidYPx = centroidYPx;
    }

    /// <summary>Names of the mask sets shipped inside firmware-sim (use them with the <c>builtin:</c> prefix).</summary>
    public static IReadOnlyList<string> BuiltinNames => Builtins;

    /// <summary>Opens the JSON of a shipped mask set (<c>builtin:YST_part11</c> or just <c>YST_part11</c>, any case),
    /// or returns null when there is none of that name. <paramref name="canonicalName"/> is its <c>builtin:</c> name.</summary>
    public static Stream? OpenBuiltin(string name, out string canonicalName)
    {
        string bare = name.StartsWith(BuiltinPrefix, StringComparison.OrdinalIgnoreCase) ? name[BuiltinPrefix.Length..].Trim() : name.Trim();
        string? match = Builtins.FirstOrDefault(b => string.Equals(b, bare, StringComparison.OrdinalIgnoreCase));
        canonicalName = BuiltinPrefix + (match ?? bare);
        return match is null ? null
            : typeof(Footprints).Assembly.GetManifestResourceStream($"ClosedLoop.FirmwareSim.Data.FinalMasks_{match}.json")
              ?? throw new InvalidOperationException($"Resource for {BuiltinPrefix}{match} is missing from the firmware-sim assembly.");
    }

    /// <summary>Where the footprints came from: a file path, <c>builtin:NAME</c> or a description of the generator.</summary>
    public string Source { get; }

    /// <summary>Field width in pixels (columns).</summary>
    public int WidthPx { get; }

    /// <summary>Field height in pixels (rows).</summary>
    public int HeightPx { get; }

    /// <summary>Number of neurons.</summary>
    public int Count => _centroidXPx.Length;

    /// <summary>Column of each neuron's centroid (mean column of its pixels), in pixels.</summary>
    public ReadOnlySpan<float> CentroidXPx => _centroidXPx;

    /// <summary>Row of each neuron's centroid (mean row of its pixels), in pixels.</summary>
    public ReadOnlySpan<float> CentroidYPx => _centroidYPx;

    /// <summary>Pixel indices (row * width + col) covered by <paramref name="neuron"/>.</summary>
    public ReadOnlySpan<int> PixelsOf(int neuron) => _pixels.AsSpan(_offsets[neuron], _offsets[neuron + 1] - _offsets[neuron]);

    /// <summary>Brightness weight of each pixel of <paramref name="neuron"/>, aligned with <see cref="PixelsOf"/>.</summary>
    public ReadOnlySpan<float> WeightsOf(int neuron) => _weights.AsSpan(_offsets[neuron], _offsets[neuron + 1] - _offsets[neuron]);

    /// <summary>
    /// Builds the footprints a tissue profile asks for: <c>generated</c> places
    /// <see cref="TissueProfile.GeneratedNeuronCount"/> somata of <see cref="TissueProfile.NeuronRadiusPx"/> with
    /// <paramref name="seed"/>; anything else is loaded with <see cref="Load(string, int, int)"/>, a relative path being
    /// taken relative to <paramref name="baseDirectory"/> when one is given (e.g. the profile's folder).
    /// </summary>
    public static Footprints FromProfile(TissueProfile tissue, ImagingProfile imaging, int seed, string? baseDirectory = null)
    {
        string spec = Check.NotEmpty("simulation.tissue.footprints", tissue.Footprints).Trim();
        if (string.Equals(spec, GeneratedName, StringComparison.OrdinalIgnoreCase))
            return Generate(imaging.WidthPx, imaging.HeightPx, tissue.GeneratedNeuronCount, tissue.NeuronRadiusPx, seed);
        if (!spec.StartsWith(BuiltinPrefix, StringComparison.OrdinalIgnoreCase) && baseDirectory is not null && !Path.IsPathRooted(spec))
            spec = Path.Combine(baseDirectory, spec);
        return Load(spec, imaging.WidthPx, imaging.HeightPx);
    }

    /// <summary>
    /// Reads masks in the shipped JSON layout (<c>{height, width, masks: [[pixel index, ...], ...]}</c>, pixel index =
    /// row * width + col) from a file path or a <c>builtin:NAME</c>. The field must be
    /// <paramref name="widthPx"/> × <paramref name="heightPx"/>.
    /// </summary>
    /// <exception cref="SettingException">The file is missing or malformed (with its line), a field is missing, the
    /// size differs from the imaging profile (both sizes named), or a mask is empty or has a pixel outside the field
    /// (the mask's index named).</exception>
    public static Footprints Load(string pathOrBuiltin, int widthPx, int heightPx)
    {
        Check.NotEmpty("simulation.tissue.footprints", pathOrBuiltin);
        if (pathOrBuiltin.StartsWith(BuiltinPrefix, StringComparison.OrdinalIgnoreCase))
        {
            using var resource = OpenBuiltin(pathOrBuiltin, out string canonical)
                ?? throw new SettingException("simulation.tissue.footprints", pathOrBuiltin,
                    $"one of {string.Join(", ", Builtins.Select(b => BuiltinPrefix + b))}, '{GeneratedName}' or a path to a masks JSON file");
            return Load(resource, canonical, widthPx, heightPx);
        }
        if (!File.Exists(pathOrBuiltin))
            throw new SettingException("simulation.tissue.footprints", pathOrBuiltin,
                $"an existing masks JSON file (looked for {Path.GetFullPath(pathOrBuiltin)}), '{GeneratedName}' or one of {string.Join(", ", Builtins.Select(b => BuiltinPrefix + b))}");
        using var stream = File.OpenRead(pathOrBuiltin);
        return Load(stream, pathOrBuiltin, widthPx, heightPx);
    }

    /// <summary>Reads masks in the shipped JSON layout from <paramref name="json"/>; <paramref name="sourceName"/> names
    /// it in errors. See <see cref="Load(string, int, int)"/>.</summary>
    public static Footprints Load(Stream json, string sourceName, int widthPx, int heightPx)
    {
        Check.InRange("imaging.widthPx", widthPx, 1, 8192);
        Check.InRange("imaging.heightPx", heightPx, 1, 8192);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            long line = (ex.LineNumber ?? 0) + 1;
            throw new SettingException("json", $"malformed at line {line}, byte {(ex.BytePositionInLine ?? 0) + 1}",
                "well-formed JSON in the masks layout {height, width, masks}", $"{sourceName} line {line}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SettingException("(root)", root.ValueKind.ToString(), "a JSON object {height, width, masks}", sourceName);
            int fileHeight = ReadInt(root, "height", sourceName);
            int fileWidth = ReadInt(root, "width", sourceName);
            if (fileHeight != heightPx || fileWidth != widthPx)
                throw new SettingException("width×height", $"{fileWidth}×{fileHeight} px",
                    $"the imaging profile's {widthPx}×{heightPx} px (imaging.widthPx×imaging.heightPx)", sourceName);
            if (!root.TryGetProperty("masks", out var masks) || masks.ValueKind != JsonValueKind.Array)
                throw new SettingException("masks", null, "an array of masks, each an array of pixel indices", sourceName);
            if (masks.GetArrayLength() == 0)
                throw new SettingException("masks", 0, "at least one mask", sourceName);

            int total = widthPx * heightPx;
            var builder = new Builder(widthPx, heightPx);
            var seen = new HashSet<int>();
            var pixels = new List<int>();
            int index = 0;
            foreach (var mask in masks.EnumerateArray())
            {
                string field = $"masks[{index}]";
                if (mask.ValueKind != JsonValueKind.Array)
                    throw new SettingException(field, mask.ValueKind.ToString(), "an array of pixel indices", sourceName);
                seen.Clear();
                pixels.Clear();
                foreach (var pixel in mask.EnumerateArray())
                {
                    if (pixel.ValueKind != JsonValueKind.Number || !pixel.TryGetInt64(out long p))
                        throw new SettingException(field, pixel.ToString(), "pixel indices that are whole numbers", sourceName);
                    if (p < 0 || p >= total)
                        throw new SettingException(field, p,
                            $"pixel indices inside the {widthPx}×{heightPx} field (0 to {total - 1}; index = row*width+col)", sourceName);
                    if (seen.Add((int)p)) pixels.Add((int)p);
                }
                if (pixels.Count == 0) throw new SettingException(field, 0, "at least one pixel", sourceName);
                builder.AddMask(pixels);
                index++;
            }
            return builder.Build(sourceName);
        }
    }

    /// <summary>
    /// Places <paramref name="count"/> somata at random in a <paramref name="widthPx"/> × <paramref name="heightPx"/>
    /// field: slightly elliptical disks of mean radius <paramref name="radiusPx"/> (axis ratio up to about 1.6,
    /// random orientation) whose centres keep at least 1.5 radii apart, so neighbours overlap only at their rims. When
    /// the field is too crowded for that spacing it shrinks gradually, so the requested count is always placed.
    /// The same arguments always give the same footprints.
    /// </summary>
    public static Footprints Generate(int widthPx, int heightPx, int count, double radiusPx, int seed)
    {
        Check.InRange("imaging.widthPx", widthPx, 4, 8192);
        Check.InRange("imaging.heightPx", heightPx, 4, 8192);
        Check.InRange("simulation.tissue.generatedNeuronCount", count, 1, 100_000);
        Check.InRange("simulation.tissue.neuronRadiusPx", radiusPx, 1, Math.Min(widthPx, heightPx) / 2.0);

        var rng = new SimRandom(seed, stream: 17);
        double minDistance = 1.5 * radiusPx;
        double cellPx = minDistance;
        int gridW = Math.Max(1, (int)Math.Ceiling(widthPx / cellPx)), gridH = Math.Max(1, (int)Math.Ceiling(heightPx / cellPx));
        var head = new int[gridW * gridH];
        Array.Fill(head, -1);
        var next = new int[count];
        var cx = new double[count];
        var cy = new double[count];
        double margin = 0.5 * radiusPx;
        int placed = 0, failures = 0;
        while (placed < count)
        {
            double x = margin + rng.NextDouble() * (widthPx - 2 * margin);
            double y = margin + rng.NextDouble() * (heightPx - 2 * margin);
            int gx = Math.Min(gridW - 1, (int)(x / cellPx)), gy = Math.Min(gridH - 1, (int)(y / cellPx));
            bool free = true;
            for (int ny = Math.Max(0, gy - 1); ny <= Math.Min(gridH - 1, gy + 1) && free; ny++)
                for (int nx = Math.Max(0, gx - 1); nx <= Math.Min(gridW - 1, gx + 1) && free; nx++)
                    for (int j = head[ny * gridW + nx]; j >= 0; j = next[j])
                    {
                        double dx = cx[j] - x, dy = cy[j] - y;
                        if (dx * dx + dy * dy < minDistance * minDistance) { free = false; break; }
                    }
            if (!free)
            {
                if (++failures >= 500) { minDistance *= 0.9; failures = 0; }
                continue;
            }
            failures = 0;
            cx[placed] = x;
            cy[placed] = y;
            next[placed] = head[gy * gridW + gx];
            head[gy * gridW + gx] = placed;
            placed++;
        }

        var builder = new Builder(widthPx, heightPx);
        var pixels = new List<int>();
        var rho2 = new List<float>();
        for (int n = 0; n < count; n++)
        {
            double elongation = 1.0 + 0.25 * rng.NextDouble();
            double a = radiusPx * elongation, b = radiusPx / elongation;
            double theta = Math.PI * rng.NextDouble();
            double cos = Math.Cos(theta), sin = Math.Sin(theta);
            int reach = (int)Math.Ceiling(a);
            pixels.Clear();
            rho2.Clear();
            int col0 = (int)Math.Floor(cx[n]), row0 = (int)Math.Floor(cy[n]);
            for (int row = Math.Max(0, row0 - reach); row <= Math.Min(heightPx - 1, row0 + reach); row++)
                for (int col = Math.Max(0, col0 - reach); col <= Math.Min(widthPx - 1, col0 + reach); col++)
                {
                    double dx = col + 0.5 - cx[n], dy = row + 0.5 - cy[n];
                    double u = dx * cos + dy * sin, v = -dx * sin + dy * cos;
                    double r2 = (u * u) / (a * a) + (v * v) / (b * b);
                    if (r2 > 1.0) continue;
                    pixels.Add(row * widthPx + col);
                    rho2.Add((float)r2);
                }
            if (pixels.Count == 0)
            {
                pixels.Add(Math.Clamp(row0, 0, heightPx - 1) * widthPx + Math.Clamp(col0, 0, widthPx - 1));
                rho2.Add(0f);
            }
            builder.AddShape(pixels, rho2);
        }
        string source = string.Create(CultureInfo.InvariantCulture,
            $"{GeneratedName}({count} somata, radius {radiusPx} px, seed {seed})");
        return builder.Build(source);
    }

    /// <summary>Accumulates footprints into the flat arrays of one <see cref="Footprints"/>.</summary>
    private sealed class Builder(int widthPx, int heightPx)
    {
        private readonly List<int> _offsets = [0];
        private readonly List<int> _pixels = new();
        private readonly List<float> _weights = new();
        private readonly List<float> _cx = new();
        private readonly List<float> _cy = new();

        /// <summary>A hand-drawn mask: the profile falls from 1 at the centroid to <see cref="EdgeWeight"/> at the
        /// radius of the disk of equal area.</summary>
        public void AddMask(List<int> pixels)
        {
            Centroid(pixels, out double mx, out double my);
            double radius = Math.Sqrt(pixels.Count / Math.PI) + 0.5;
            foreach (int p in pixels)
            {
                double dx = p % widthPx - mx, dy = p / widthPx - my;
                double rho2 = Math.Min(1.0, (dx * dx + dy * dy) / (radius * radius));
                _pixels.Add(p);
                _weights.Add((float)(1.0 - (1.0 - EdgeWeight) * rho2));
            }
            Close(mx, my);
        }

        /// <summary>A generated soma with each pixel's squared normalised radius.</summary>
        public void AddShape(List<int> pixels, List<float> rho2)
        {
            Centroid(pixels, out double mx, out double my);
            for (int i = 0; i < pixels.Count; i++)
            {
                _pixels.Add(pixels[i]);
                _weights.Add(1f - (1f - EdgeWeight) * rho2[i]);
            }
            Close(mx, my);
        }

        public Footprints Build(string source) => new(source, widthPx, heightPx, _offsets.ToArray(), _pixels.ToArray(),
            _weights.ToArray(), _cx.ToArray(), _cy.ToArray());

        private void Centroid(List<int> pixels, out double mx, out double my)
        {
            double sx = 0, sy = 0;
            foreach (int p in pixels) { sx += p % widthPx; sy += p / widthPx; }
            mx = sx / pixels.Count;
            my = sy / pixels.Count;
        }

        private void Close(double mx, double my)
        {
            _offsets.Add(_pixels.Count);
            _cx.Add((float)mx);
            _cy.Add((float)my);
        }
    }

    private static int ReadInt(JsonElement root, string name, string sourceName)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int n) || n <= 0)
            throw new SettingException(name, root.TryGetProperty(name, out var v) ? v.ToString() : null, "a whole number of pixels > 0", sourceName);
        return n;
    }
}
