using System.Globalization;
using ClosedLoop.Core;
using YamlDotNet.RepresentationModel;

namespace ClosedLoop.Hardware.Yaml;

/// <summary>
/// One mapping (a section of <c>key: value</c> lines) of a <see cref="YamlFile"/>, at a dotted path such as
/// <c>simulation.tissue</c> (<c>""</c> for the top level). Every accessor records the key it was asked for, so that
/// <see cref="RejectUnknownKeys"/> can refuse typos instead of silently ignoring them. Absent keys and empty values
/// (<c>key:</c>, <c>~</c>, <c>null</c>) count as not written: optional readers return their fallback.
/// Errors are <see cref="SettingException"/>s named <c>path.key</c> with the <c>file:line</c> of the value.
/// </summary>
public sealed class YamlSection
{
    private readonly List<string> _keys = new();
    private readonly Dictionary<string, (YamlNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);
    private readonly List<string> _asked = new();
    private readonly HashSet<string> _askedSet = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object> _children = new(StringComparer.Ordinal);

    internal YamlSection(YamlFile file, string path, YamlMappingNode node)
    {
        File = file;
        Path = path;
        Line = file.LineAt(path);
        foreach (var (keyNode, value) in node.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key } || YamlFile.IsNull(keyNode))
                throw new SettingException(YamlFile.Child(path, "?"), Shown.Of(keyNode), "a plain name as key",
                    $"{file.SourceName}:{YamlFile.LineOf(keyNode)}");
            if (!_entries.TryAdd(key, (keyNode, value)))
                throw new SettingException(YamlFile.Child(path, key), key, "written only once in its section",
                    $"{file.SourceName}:{YamlFile.LineOf(keyNode)}");
            _keys.Add(key);
        }
    }

    /// <summary>Dotted path of this section, e.g. <c>simulation.tissue</c> or <c>stimulators[0]</c>; <c>""</c> at the top level.</summary>
    public string Path { get; }

    /// <summary>Line (1-based) where the section starts: the line of its key, or of its <c>- </c> list item.</summary>
    public int Line { get; }

    /// <summary>The file this section belongs to.</summary>
    public YamlFile File { get; }

    /// <summary>Keys written in this section, in file order.</summary>
    public IReadOnlyList<string> Keys => _keys;

    /// <summary>True when <paramref name="key"/> is written with a non-empty value. Counts as reading the key.</summary>
    public bool Has(string key) => TryGet(key, out _);

    /// <summary>Marks keys as known without reading them (for keys handled some other way).</summary>
    public void MarkKnown(params string[] keys)
    {
        foreach (string key in keys) Ask(key);
    }

    /// <summary>Dotted path of <paramref name="key"/> in this section.</summary>
    public string PathOf(string key) => YamlFile.Child(Path, key);

    /// <summary><c>file:line</c> of <paramref name="key"/>, or of this section when the key is not written.</summary>
    public string LocationOf(string key) => File.LocationOf(PathOf(key));

    /// <summary>A required text value.</summary>
    /// <exception cref="SettingException">The key is missing or empty, or holds a list or a section.</exception>
    public string String(string key) => OptionalString(key) ?? throw Missing(key);

    /// <summary>A text value, or <paramref name="fallback"/> when the key is absent or empty.</summary>
    /// <exception cref="SettingException">The key holds a list or a section.</exception>
    public string? OptionalString(string key, string? fallback = null) =>
        TryGet(key, out var node) ? Scalar(key, node, "a text value") : fallback;

    /// <summary>A number, or <paramref name="fallback"/> when the key is absent or empty.</summary>
    /// <exception cref="SettingException">The value is not a number.</exception>
    public double Double(string key, double fallback) =>
        TryGet(key, out var node) ? ParseDouble(PathOf(key), node) : fallback;

    /// <summary>A required number.</summary>
    /// <exception cref="SettingException">The key is missing or the value is not a number.</exception>
    public double Double(string key) =>
        TryGet(key, out var node) ? ParseDouble(PathOf(key), node) : throw Missing(key);

    /// <summary>A whole number, or <paramref name="fallback"/> when the key is absent or empty.</summary>
    /// <exception cref="SettingException">The value is not a whole number.</exception>
    public int Int(string key, int fallback) =>
        TryGet(key, out var node) ? ParseInt(PathOf(key), node) : fallback;

    /// <summary>A required whole number.</summary>
    /// <exception cref="SettingException">The key is missing or the value is not a whole number.</exception>
    public int Int(string key) =>
        TryGet(key, out var node) ? ParseInt(PathOf(key), node) : throw Missing(key);

    /// <summary><c>true</c> or <c>false</c> (any letter case), or <paramref name="fallback"/> when absent or empty.</summary>
    /// <exception cref="SettingException">The value is neither <c>true</c> nor <c>false</c>.</exception>
    public bool Bool(string key, bool fallback)
    {
        if (!TryGet(key, out var node)) return fallback;
        string text = Scalar(key, node, "true or false");
        if (string.Equals(text, "true", StringComparison.OrdinalIgnoreCase)) return true;
        if (string.Equals(text, "false", StringComparison.OrdinalIgnoreCase)) return false;
        throw new SettingException(PathOf(key), text, "true or false", LocationOf(key));
    }

    /// <summary>One of the names of <typeparamref name="T"/>, matched ignoring letter case, dashes and underscores
    /// (<c>nidaqmx</c>, <c>niDaqmx</c> and <c>ni-daqmx</c> all name <c>NiDaqmx</c>); <paramref name="fallback"/> when absent or empty.</summary>
    /// <exception cref="SettingException">The value names none of them; the message lists the allowed values.</exception>
    public T Enum<T>(string key, T fallback) where T : struct, System.Enum =>
        TryGet(key, out var node) ? ParseEnum<T>(key, node) : fallback;

    /// <summary>A required enum value, matched as by <see cref="Enum{T}(string, T)"/>.</summary>
    /// <exception cref="SettingException">The key is missing or names no value of <typeparamref name="T"/>.</exception>
    public T Enum<T>(string key) where T : struct, System.Enum =>
        TryGet(key, out var node) ? ParseEnum<T>(key, node) : throw Missing(key);

    /// <summary>The nested section at <paramref name="key"/>, or null when absent or empty. Asking twice gives the
    /// same object, so keys read through it stay recorded.</summary>
    /// <exception cref="SettingException">The value is not a section (a mapping of keys).</exception>
    public YamlSection? Section(string key)
    {
        if (!TryGet(key, out var node)) return null;
        if (_children.TryGetValue(key, out var cached)) return (YamlSection)cached;
        if (node is not YamlMappingNode map)
            throw new SettingException(PathOf(key), Shown.Of(node), "a section of indented key: value lines", LocationOf(key));
        var section = new YamlSection(File, PathOf(key), map);
        _children[key] = section;
        return section;
    }

    /// <summary>The nested section at <paramref name="key"/>, which must be written.</summary>
    /// <exception cref="SettingException">The section is missing or is not a mapping of keys.</exception>
    public YamlSection RequiredSection(string key) => Section(key) ?? throw Missing(key);

    /// <summary>A list of sections (<c>- name: ...</c> items); their paths are <c>key[0]</c>, <c>key[1]</c>, ...
    /// Empty when the key is absent.</summary>
    /// <exception cref="SettingException">The value is not a list, or an item is not a section.</exception>
    public IReadOnlyList<YamlSection> SectionList(string key)
    {
        if (!TryGet(key, out var node)) return Array.Empty<YamlSection>();
        if (_children.TryGetValue(key, out var cached)) return (IReadOnlyList<YamlSection>)cached;
        string path = PathOf(key);
        if (node is not YamlSequenceNode seq)
            throw new SettingException(path, Shown.Of(node), "a list of sections, one per '- ' item", LocationOf(key));
        var list = new List<YamlSection>(seq.Children.Count);
        for (int i = 0; i < seq.Children.Count; i++)
        {
            string itemPath = $"{path}[{i}]";
            if (seq.Children[i] is not YamlMappingNode map)
                throw new SettingException(itemPath, Shown.Of(seq.Children[i]), "a section of key: value lines", File.LocationOf(itemPath));
            list.Add(new YamlSection(File, itemPath, map));
        }
        _children[key] = list;
        return list;
    }

    /// <summary>Named sections (<c>key: { nameA: {...}, nameB: {...} }</c>) in file order, each at path
    /// <c>key.name</c>. Empty when the key is absent.</summary>
    /// <exception cref="SettingException">The value is not a mapping, or one of its values is not a section.</exception>
    public IReadOnlyDictionary<string, YamlSection> SectionMap(string key)
    {
        var outer = Section(key);
        if (outer is null) return new Dictionary<string, YamlSection>();
        if (_children.TryGetValue("{map}" + key, out var cached)) return (IReadOnlyDictionary<string, YamlSection>)cached;
        var map = new OrderedDictionary<string, YamlSection>(StringComparer.Ordinal);
        foreach (string name in outer.Keys)
        {
            var inner = outer.Section(name)
                ?? throw new SettingException(outer.PathOf(name), new Shown("(empty)"), "a section of key: value lines", outer.LocationOf(name));
            map.Add(name, inner);
        }
        _children["{map}" + key] = map;
        return map;
    }

    /// <summary>Whole numbers written as <c>[1, 2]</c>, as <c>- 1</c> lines, or as a single value. Empty when absent.</summary>
    /// <exception cref="SettingException">An item is not a whole number (named <c>key[i]</c>).</exception>
    public List<int> IntList(string key) => List(key, "whole numbers", (path, item) => ParseInt(path, item));

    /// <summary>Text values written as <c>[a, b]</c>, as <c>- a</c> lines, or as a single value. Empty when absent.</summary>
    /// <exception cref="SettingException">An item is a list or a section.</exception>
    public List<string> StringList(string key) => List(key, "text values", (path, item) => ScalarAt(path, item, "a text value"));

    /// <summary>Numbers written as <c>[0.5, 2]</c>, as <c>- 0.5</c> lines, or as a single value. Empty when absent.</summary>
    /// <exception cref="SettingException">An item is not a number (named <c>key[i]</c>).</exception>
    public List<double> DoubleList(string key) => List(key, "numbers", (path, item) => ParseDouble(path, item));

    /// <summary>Refuses any key of this section that no accessor has asked for: a misspelt or misplaced key is an
    /// error, never silently ignored. Call it after reading the section (it does not look into nested sections).</summary>
    /// <exception cref="SettingException">Names the first unknown key, its line and the known keys.</exception>
    public void RejectUnknownKeys()
    {
        foreach (string key in _keys)
        {
            if (_askedSet.Contains(key)) continue;
            string known = _asked.Count == 0 ? "(none: this section takes no keys)" : string.Join(", ", _asked);
            string? guess = Closest(key);
            string hint = guess is null ? "" : $" (did you mean '{guess}'?)";
            throw new SettingException(PathOf(key), key, $"one of the known keys: {known}{hint}", LocationOf(key));
        }
    }

    private void Ask(string key)
    {
        if (_askedSet.Add(key)) _asked.Add(key);
    }

    private bool TryGet(string key, out YamlNode value)
    {
        ArgumentNullException.ThrowIfNull(key);
        Ask(key);
        if (_entries.TryGetValue(key, out var entry) && !YamlFile.IsNull(entry.Value))
        {
            value = entry.Value;
            return true;
        }
        value = null!;
        return false;
    }

    private SettingException Missing(string key) => new(PathOf(key), null, "present", LocationOf(key));

    private string Scalar(string key, YamlNode node, string expected) => ScalarAt(PathOf(key), node, expected);

    private string ScalarAt(string path, YamlNode node, string expected)
    {
        if (node is YamlScalarNode { Value: { } text }) return text;
        throw new SettingException(path, Shown.Of(node), expected, File.LocationOf(path));
    }

    private double ParseDouble(string path, YamlNode node)
    {
        string text = ScalarAt(path, node, "a number").Trim();
        double? special = text switch
        {
            ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF" => double.PositiveInfinity,
            "-.inf" or "-.Inf" or "-.INF" => double.NegativeInfinity,
            ".nan" or ".NaN" or ".NAN" => double.NaN,
            _ => null,
        };
        if (special is { } s) return s;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)) return value;
        throw new SettingException(path, text, "a number", File.LocationOf(path));
    }

    private int ParseInt(string path, YamlNode node)
    {
        string text = ScalarAt(path, node, "a whole number").Trim();
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value)) return value;
        throw new SettingException(path, text, "a whole number", File.LocationOf(path));
    }

    private T ParseEnum<T>(string key, YamlNode node) where T : struct, System.Enum
    {
        string[] names = System.Enum.GetNames<T>();
        string text = Scalar(key, node, "one of: " + string.Join(", ", names.Select(n => n.ToLowerInvariant())));
        string wanted = Normalise(text);
        foreach (string name in names)
        {
            if (Normalise(name) == wanted) return System.Enum.Parse<T>(name);
        }
        throw new SettingException(PathOf(key), text, "one of: " + string.Join(", ", names.Select(n => n.ToLowerInvariant())), LocationOf(key));

        static string Normalise(string s) => s.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal)
            .Trim().ToLowerInvariant();
    }

    private List<T> List<T>(string key, string what, Func<string, YamlNode, T> parse)
    {
        var result = new List<T>();
        if (!TryGet(key, out var node)) return result;
        string path = PathOf(key);
        switch (node)
        {
            case YamlScalarNode:
                result.Add(parse(path, node));
                break;
            case YamlSequenceNode seq:
                for (int i = 0; i < seq.Children.Count; i++) result.Add(parse($"{path}[{i}]", seq.Children[i]));
                break;
            default:
                throw new SettingException(path, Shown.Of(node), $"a list of {what}, e.g. [1, 2, 3]", LocationOf(key));
        }
        return result;
    }

    /// <summary>The known key a typo most likely meant: same letters in another case, or at most two edits away.</summary>
    private string? Closest(string key)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string known in _asked)
        {
            int d = string.Equals(known, key, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(known.ToLowerInvariant(), key.ToLowerInvariant());
            if (d < bestDistance) (best, bestDistance) = (known, d);
        }
        return bestDistance <= Math.Min(2, key.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
