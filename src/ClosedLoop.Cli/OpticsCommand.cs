using System.CommandLine;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Hardware;
using ClosedLoop.Scanning.Optics;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop optics PROFILE</c>: what the rig's lenses and scanners give at the sample (field of view, pixel
/// size, beam at the objective's back aperture, ETL focus range), with units, and which settings are missing for
/// the figures it cannot compute.
/// </summary>
public static class OpticsCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var profile = new Argument<string>("profile")
        {
            Description = "Hardware profile: a YAML file or builtin:NAME (e.g. builtin:sim-resonant).",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => "builtin:sim-resonant",
        };
        var cmd = new Command("optics", """
            Compute the optics of a rig from its profile: field of view and pixel size at the profile's zoom, beam
            diameter and fill at the objective's back aperture, and the focus range of the electrically tunable lens.
            Figures whose inputs are missing are listed with the settings to add. Exit code 0, or 1 for a bad profile.
            """)
            { profile };
        cmd.SetAction(p => Execute(p.GetValue(profile)!, AnsiConsole.Console));
        return cmd;
    }

    /// <summary>Loads <paramref name="profile"/>, prints its optics figures; returns the exit code.</summary>
    public static int Execute(string profile, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(console);
        HardwareProfile rig;
        OpticsReport report;
        try
        {
            rig = HardwareProfileLoader.Load(profile);
            report = OpticsReport.From(rig);
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]Invalid:[/] {Markup.Escape(ex.Message)}");
            return ExitCodes.BadInput;
        }

        console.MarkupLine($"Optics of [bold]{Markup.Escape(rig.Name)}[/] ({Markup.Escape(rig.SourcePath)}), " +
            $"{rig.Imaging.WidthPx}×{rig.Imaging.HeightPx} px at zoom {N(rig.Imaging.Zoom, "0.##")}");
        var t = new Table().Border(TableBorder.Rounded).AddColumns("figure", "value", "from");
        Row(t, "objective focal length f_o", report.ObjectiveFocalLengthMm, "0.###", "mm", "tube-lens standard / magnification");
        Row(t, "scan angle, fast axis (imaged, optical)", report.ScanAngleXDeg, "0.##", "°", "scanners, imaging.zoom");
        Row(t, "scan angle, slow axis (optical)", report.ScanAngleYDeg, "0.##", "°", "scanners.galvoY, imaging.zoom");
        Row(t, "field of view, fast axis", report.FieldOfViewXUm, "0", "µm", "tan(α) · f_o · f_s / f_t");
        Row(t, "field of view, slow axis", report.FieldOfViewYUm, "0", "µm", "tan(α) · f_o · f_s / f_t");
        Row(t, "pixel size, fast axis", report.PixelSizeXUm, "0.###", "µm", "field / imaging.widthPx");
        Row(t, "pixel size, slow axis", report.PixelSizeYUm, "0.###", "µm", "field / imaging.heightPx");
        Row(t, "pixel size in the profile", report.ProfilePixelSizeUm, "0.###", "µm", "imaging.pixelSizeUm");
        Row(t, "beam at the back aperture d_BFA", report.BackApertureBeamDiameterMm, "0.##", "mm", "(f_t / f_s) · d_mirror");
        Row(t, "objective back aperture", report.BackApertureDiameterMm, "0.##", "mm", "2 · NA · f_o");
        Row(t, "back-aperture fill", report.BackApertureFill, "0.##", "", "d_BFA / back aperture (1 = filled)");
        Row(t, "focus shift per ETL diopter", report.FocusUmPerDiopter, "0.###", "µm/dpt", "−f_o² f_s² r1² r3² / (f_t² r2² r4²)");
        Row(t, "focus at etl.minDiopter … maxDiopter", report.FocusMinUm is double lo && report.FocusMaxUm is double hi
            ? $"{N(lo, "0.#")} … {N(hi, "0.#")} µm" : null, "etl, optics.relays");
        Row(t, "ETL focus range", report.FocusRangeUm, "0.#", "µm", "over etl.minDiopter … maxDiopter");
        console.Write(t);
        if (report.Missing.Count > 0)
            console.MarkupLine("[yellow]Missing inputs:[/] " + Markup.Escape(string.Join(", ", report.Missing)) +
                " (add them to the profile to compute the figures shown as —; see docs/hardware.md)");
        return ExitCodes.Ok;
    }

    private static void Row(Table t, string figure, double? value, string format, string unit, string source) =>
        Row(t, figure, value is double v ? (N(v, format) + (unit.Length > 0 ? " " + unit : "")) : null, source);

    private static void Row(Table t, string figure, string? value, string source) =>
        t.AddRow(Markup.Escape(figure), value is null ? "[grey]—[/]" : Markup.Escape(value), $"[grey]{Markup.Escape(source)}[/]");

    private static string N(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
