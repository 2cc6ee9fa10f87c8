using ClosedLoop.Core;
using ClosedLoop.Hardware.Yaml;

namespace ClosedLoop.Hardware.Tests;

public class YamlFileTests
{
    private const string Experiment =
        "name: lsa\n" +                 // 1
        "mode: closed-loop\n" +         // 2
        "protocol:\n" +                 // 3
        "  rateHz: 2\n" +               // 4
        "  electrodes: [3, 7, 11]\n" +  // 5
        "  labels:\n" +                 // 6
        "    - up\n" +                  // 7
        "    - down\n" +                // 8
        "  enabled: yes\n" +            // 9
        "groups:\n" +                   // 10
        "  motor:\n" +                  // 11
        "    neurons: 4\n" +            // 12
        "  sensory:\n" +                // 13
        "    neurons: 9\n" +            // 14
        "phases:\n" +                   // 15
        "  - name: baseline\n" +        // 16
        "    durationS: 60\n" +         // 17
        "  - name: training\n" +        // 18
        "    durationS: x\n";           // 19

    private enum Mode { OpenLoop, ClosedLoop }

    private static YamlFile File() => YamlFile.Parse(Experiment, "exp.yaml");

    [Fact]
    public void LocationOf_WrittenSetting_GivesItsLine()
    {
        Assert.Equal("exp.yaml:18", File().LocationOf("phases[1]"));
        Assert.Equal("exp.yaml:19", File().LocationOf("phases[1].durationS"));
        Assert.Equal("exp.yaml:8", File().LocationOf("protocol.labels[1]"));
    }

    [Fact]
    public void LocationOf_AbsentSetting_FallsBackToClosestWrittenAncestor()
    {
        Assert.Equal("exp.yaml:16", File().LocationOf("phases[0].stimulus.powerMw"));
        Assert.Equal("exp.yaml:3", File().LocationOf("protocol.missing"));
        Assert.Equal("exp.yaml:1", File().LocationOf("nowhere.at.all"));
    }

    [Fact]
    public void Locate_ValidationError_KeepsTheErrorAndAddsTheLine()
    {
        var fromModel = new SettingException("protocol.rateHz", 2.0, "between 0.01 and 1");

        var located = File().Locate(fromModel);

        Assert.Equal(("protocol.rateHz", "between 0.01 and 1", "exp.yaml:4"), (located.Setting, located.Allowed, located.Location));
        Assert.StartsWith("exp.yaml:4: protocol.rateHz = 2 ", located.Message);
    }

    [Fact]
    public void Enum_KebabCaseValue_MatchesPascalCaseName()
    {
        Assert.Equal(Mode.ClosedLoop, File().Root.Enum("mode", Mode.OpenLoop));
    }

    [Fact]
    public void Enum_AbsentKey_GivesFallback()
    {
        Assert.Equal(Mode.OpenLoop, File().Root.Enum("style", Mode.OpenLoop));
    }

    [Fact]
    public void Lists_FlowBlockAndMissing_AllRead()
    {
        var protocol = File().Root.RequiredSection("protocol");

        Assert.Equal([3, 7, 11], protocol.IntList("electrodes"));
        Assert.Equal([3.0, 7.0, 11.0], protocol.DoubleList("electrodes"));
        Assert.Equal(["up", "down"], protocol.StringList("labels"));
        Assert.Empty(protocol.IntList("absent"));
    }

    [Fact]
    public void IntList_TextItem_NamesTheItemPathAndLine()
    {
        var protocol = File().Root.RequiredSection("protocol");

        var ex = Assert.Throws<SettingException>(() => protocol.IntList("labels"));

        Assert.Equal("exp.yaml:7: protocol.labels[0] = 'up' is not allowed; it must be a whole number.", ex.Message);
    }

    [Fact]
    public void Bool_YesInsteadOfTrue_SaysTrueOrFalse()
    {
        var ex = Assert.Throws<SettingException>(() => File().Root.RequiredSection("protocol").Bool("enabled", false));

        Assert.Equal("exp.yaml:9: protocol.enabled = 'yes' is not allowed; it must be true or false.", ex.Message);
    }

    [Fact]
    public void SectionMap_NamedGroups_InFileOrderWithTheirPaths()
    {
        var groups = File().Root.SectionMap("groups");

        Assert.Equal(["motor", "sensory"], groups.Keys);
        Assert.Equal("groups.sensory", groups["sensory"].Path);
        Assert.Equal(13, groups["sensory"].Line);
        Assert.Equal(9, groups["sensory"].Int("neurons"));
    }

    [Fact]
    public void SectionList_ItemWithBadNumber_NamesIndexedPath()
    {
        var phases = File().Root.SectionList("phases");

        Assert.Equal(60, phases[0].Double("durationS"));
        var ex = Assert.Throws<SettingException>(() => phases[1].Double("durationS"));
        Assert.Equal("exp.yaml:19: phases[1].durationS = 'x' is not allowed; it must be a number.", ex.Message);
    }

    [Fact]
    public void String_MissingRequiredKey_SaysPresentAtTheSection()
    {
        var ex = Assert.Throws<SettingException>(() => File().Root.RequiredSection("protocol").String("target"));

        Assert.Equal("exp.yaml:3: protocol.target = (missing) is not allowed; it must be present.", ex.Message);
    }

    [Fact]
    public void RequiredSection_ScalarInsteadOfSection_SaysSectionExpected()
    {
        var ex = Assert.Throws<SettingException>(() => File().Root.RequiredSection("name"));

        Assert.Equal("name", ex.Setting);
        Assert.Equal("exp.yaml:1", ex.Location);
    }

    [Fact]
    public void RejectUnknownKeys_AllKeysRead_Passes()
    {
        var root = File().Root;
        foreach (string key in root.Keys) root.MarkKnown(key);

        root.RejectUnknownKeys();
    }

    [Fact]
    public void RejectUnknownKeys_KeyNeverRead_NamesItAndTheKnownKeys()
    {
        var root = File().Root;
        root.String("name");
        root.Has("mode");
        root.Section("protocol");
        root.SectionMap("groups");

        var ex = Assert.Throws<SettingException>(root.RejectUnknownKeys);

        Assert.Equal("exp.yaml:15: phases = 'phases' is not allowed; it must be one of the known keys: name, mode, protocol, groups.", ex.Message);
    }

    [Fact]
    public void Parse_DuplicateKey_NamesTheSecondLine()
    {
        var ex = Assert.Throws<SettingException>(() => YamlFile.Parse("a: 1\nb: 2\na: 3\n", "dup.yaml"));

        Assert.StartsWith("dup.yaml:3:", ex.Location);
        Assert.Contains("Duplicate key a", ex.Message);
    }

    [Fact]
    public void Parse_TopLevelList_SaysAMappingIsNeeded()
    {
        var ex = Assert.Throws<SettingException>(() => YamlFile.Parse("- 1\n- 2\n", "list.yaml"));

        Assert.Equal("list.yaml:1", ex.Location);
        Assert.Contains("a mapping of keys at the top level", ex.Message);
    }

    [Fact]
    public void Parse_EmptyText_SaysAMappingIsNeeded()
    {
        var ex = Assert.Throws<SettingException>(() => YamlFile.Parse("# only a comment\n", "empty.yaml"));

        Assert.Contains("a mapping of keys at the top level", ex.Message);
    }

    [Fact]
    public void Double_EmptyValue_CountsAsAbsent()
    {
        var root = YamlFile.Parse("rateHz:\nname: ~\n", "e.yaml").Root;

        Assert.Equal(5.0, root.Double("rateHz", 5.0));
        Assert.Null(root.OptionalString("name"));
        Assert.False(root.Has("rateHz"));
    }

    [Fact]
    public void Load_MissingFile_SaysFileNotFoundWithPath()
    {
        string path = Path.Combine(Path.GetTempPath(), "closedloop-" + Guid.NewGuid().ToString("N"), "exp.yaml");

        var ex = Assert.Throws<SettingException>(() => YamlFile.Load(path));

        Assert.Contains(path, ex.Message);
        Assert.Contains("file not found", ex.Message);
    }
}
