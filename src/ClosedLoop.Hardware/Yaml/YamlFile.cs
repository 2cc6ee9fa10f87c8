using System.Text.RegularExpressions;
using ClosedLoop.Core;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ClosedLoop.Hardware.Yaml;

/// <summary>
/// One YAML settings file (a hardware profile, an experiment) read into YamlDotNet's representation model, with
/// the line of every key and list item recorded, so that any error about a setting can name the file and line it
/// was written on. Read it through <see cref="Root"/>; every reader error is a <see cref="SettingException"/>
/// whose <see cref="SettingException.Location"/> is <c>file:line</c>.
/// </summary>
public sealed partial class YamlFile
{
    private const string WellFormed = "well-formed YAML (look at indentation, colons, brackets and quotes at or just before this place)";

    private readonly Dictionary<string, int> _lines;

    private YamlFile(string sourceName, YamlMappingNode root)
    {
        SourceName = sourceName;
        _lines = new Dictionary<string, int>(StringComparer.Ordinal) { [""] = LineOf(root) };
        Record("", root);
        Root = new YamlSection(this, "", root);
    }

    /// <summary>Name used in locations: the path as given to <see cref="Load"/>, or the name given to <see cref="Parse"/>.</summary>
    public string SourceName { get; }

    /// <summary>The top-level mapping of the file.</summary>
    public YamlSection Root { get; }

    /// <summary>Reads and parses the file at <paramref name="path"/>.</summary>
    /// <exception cref="SettingException">The file does not exist or cannot be read, or is not well-formed YAML,
    /// or its top level is not a mapping.</exception>
    public static YamlFile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = System.IO.File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SettingException("file", Full(path), "an existing YAML file (file not found)", path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new SettingException("file", Full(path), $"a readable YAML file ({e.Message})", path);
        }
        return Parse(text, path);
    }

    /// <summary>Parses <paramref name="text"/>; <paramref name="sourceName"/> is what locations will call the file.</summary>
    /// <exception cref="SettingException">The text is not well-formed YAML (the location is
    /// <c>sourceName:line:column</c> and the message carries the parser's reason), holds more than one document,
    /// or its top level is not a mapping.</exception>
    public static YamlFile Parse(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(text), skipComments: true);
        try
        {
            stream.Load(new Parser(scanner));
        }
        catch (YamlException e)
        {
            throw new SettingException("yaml", Reason(e), WellFormed, $"{sourceName}:{e.Start.Line}:{e.Start.Column}");
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16.3 fails this way (without a position) on some unterminated flow lists such as "[64";
            // the scanner's position is where it gave up.
            var at = scanner.CurrentPosition;
            throw new SettingException("yaml", "the file ends or breaks inside a [...] list or {...} section", WellFormed,
                $"{sourceName}:{at.Line}:{at.Column}");
        }
        if (stream.Documents.Count > 1)
        {
            var second = stream.Documents[1].RootNode;
            throw new SettingException("yaml", new Shown("a second document"), "a single YAML document (remove the '---' separator)",
                $"{sourceName}:{LineOf(second)}");
        }
        if (stream.Documents.Count == 0)
            throw new SettingException("yaml", new Shown("(empty file)"), "a mapping of keys at the top level", $"{sourceName}:1");
        var root = stream.Documents[0].RootNode;
        if (root is not YamlMappingNode mapping || IsNull(root))
            throw new SettingException("yaml", Shown.Of(root), "a mapping of keys at the top level (key: value lines)", $"{sourceName}:{LineOf(root)}");
        return new YamlFile(sourceName, mapping);
    }

    /// <summary>
    /// <c>file:line</c> of <paramref name="dottedPath"/> (e.g. <c>simulation.tissue.pathways[1].probability</c>), or of
    /// its closest ancestor written in the file when the setting itself is absent (so a missing key points at its
    /// section). The empty path is the top level.
    /// </summary>
    public string LocationOf(string dottedPath)
    {
        return $"{SourceName}:{LineAt(dottedPath ?? "")}";
    }

    /// <summary>The same error with its location set to where its setting (or closest written ancestor) is in this
    /// file; use it on errors thrown by a model's <c>Validate</c>, which knows setting names but not lines.</summary>
    public SettingException Locate(SettingException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        return new SettingException(ex.Setting, ex.Value, ex.Allowed, LocationOf(ex.Setting));
    }

    /// <summary>Line of <paramref name="dottedPath"/> or of its closest written ancestor.</summary>
    internal int LineAt(string dottedPath)
    {
        string path = dottedPath;
        while (!_lines.ContainsKey(path)) path = Parent(path);
        return _lines[path];
    }

    internal static int LineOf(YamlNode node) => (int)node.Start.Line;

    internal static string Child(string path, string key) => path.Length == 0 ? key : path + "." + key;

    internal static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } s
        && (string.IsNullOrEmpty(s.Value) || s.Value is "~" or "null" or "Null" or "NULL");

    private static string Parent(string path)
    {
        if (path.Length == 0) return "";
        if (path[^1] == ']')
        {
            int open = path.LastIndexOf('[');
            if (open > 0) return path[..open];
        }
        int dot = path.LastIndexOf('.');
        return dot < 0 ? "" : path[..dot];
    }

    private void Record(string path, YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name }) continue; // YamlSection rejects it with its line
                    string child = Child(path, name);
                    _lines.TryAdd(child, LineOf(key));
                    Record(child, value);
                }
                break;
            case YamlSequenceNode seq:
                for (int i = 0; i < seq.Children.Count; i++)
                {
                    string child = $"{path}[{i}]";
                    _lines.TryAdd(child, LineOf(seq.Children[i]));
                    Record(child, seq.Children[i]);
                }
                break;
        }
    }

    private static string Full(string path)
    {
        try { return Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return path; }
    }

    /// <summary>YamlDotNet prefixes its messages with "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the location is
    /// already in our error, so only the reason is kept.</summary>
    private static string Reason(YamlException e)
    {
        string reason = MarkPrefix().Replace(e.Message, "").Trim();
        if (e.InnerException is { } inner && !string.IsNullOrWhiteSpace(inner.Message) && !reason.Contains(inner.Message, StringComparison.Ordinal))
            reason += " " + MarkPrefix().Replace(inner.Message, "").Trim();
        return reason.Length == 0 ? "not well-formed" : reason;
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex MarkPrefix();
}

/// <summary>A value shown in an error as written, without quotes (e.g. <c>(a list)</c>).</summary>
internal sealed class Shown(string text)
{
    public override string ToString() => text;

    public static object Of(YamlNode node) => node switch
    {
        YamlScalarNode s when YamlFile.IsNull(s) => new Shown("(empty)"),
        YamlScalarNode s => s.Value ?? "",
        YamlSequenceNode => new Shown("(a list)"),
        YamlMappingNode => new Shown("(a section of keys)"),
        _ => new Shown("(an alias)"),
    };
}
