using System.Globalization;
using System.Text;
using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>
/// A problem in a Spikefinder CSV file. The message names the file and, when the problem is in one cell, its line
/// (1-based, the header is line 1) and column (1-based position, with the header's name for it).
/// </summary>
public sealed class SpikefinderFormatException : SettingException
{
    /// <summary>Creates the error for <paramref name="what"/> holding <paramref name="value"/>, which must be <paramref name="allowed"/>.</summary>
    public SpikefinderFormatException(string file, int? line, int? column, string what, object? value, string allowed)
        : base(what, value, allowed, line is null ? file : $"{file}: line {line}")
    {
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>The file (or stream name) the problem is in.</summary>
    public string File { get; }

    /// <summary>1-based line of the problem (the header is line 1), when it is on one line.</summary>
    public int? Line { get; }

    /// <summary>1-based column of the problem, when it is in one column.</summary>
    public int? Column { get; }
}

/// <summary>
/// One Spikefinder table: one column per neuron, sampled at <see cref="SamplingRateHz"/>. Each column holds the
/// neuron's samples up to its last non-empty cell (the empty cells that pad shorter columns to the file's length are
/// not part of it); an empty or NaN cell before that is kept as NaN.
/// </summary>
public sealed class SpikefinderTable
{
    /// <summary>Creates a table; every column needs at least one finite value.</summary>
    public SpikefinderTable(IReadOnlyList<string> names, IReadOnlyList<double[]> columns, double samplingRateHz = SpikefinderCsv.DefaultRateHz)
    {
        if (names.Count != columns.Count) throw new SettingException("names", names.Count, $"one name per column ({columns.Count})");
        if (columns.Count == 0) throw new SettingException("columns", 0, "at least one column");
        SamplingRateHz = Check.Positive("rateHz", samplingRateHz);
        Names = names;
        Columns = columns;
    }

    /// <summary>Column names as written in the header (Spikefinder files use the indices 0, 1, 2, ...).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The columns, one per neuron, each as long as its data (padding removed).</summary>
    public IReadOnlyList<double[]> Columns { get; }

    /// <summary>Sampling rate the table is declared to have, in Hz.</summary>
    public double SamplingRateHz { get; }

    /// <summary>Number of neurons (columns).</summary>
    public int Count => Columns.Count;

    /// <summary>Length of the longest column (rows of the file, not counting the header).</summary>
    public int Rows => Columns.Max(c => c.Length);
}

/// <summary>
/// Reads and writes the Spikefinder challenge's CSV files: a header row of column names (the column indices), then one
/// row per sample and one column per neuron; a column shorter than the file is padded with empty cells at its end.
/// Values are invariant-culture numbers; "NaN" (any case) and empty cells are missing values.
/// </summary>
public static class SpikefinderCsv
{
    /// <summary>Sampling rate of every Spikefinder file, in Hz.</summary>
    public const double DefaultRateHz = 100;

    /// <summary>Reads <paramref name="path"/>, declared sampled at <paramref name="samplingRateHz"/> (positive, finite).
    /// Throws <see cref="SpikefinderFormatException"/> naming the file, line and column of the first problem.</summary>
    public static SpikefinderTable Read(string path, double samplingRateHz = DefaultRateHz)
    {
        Check.Positive("rateHz", samplingRateHz);
        using var stream = File.OpenRead(path);
        return Read(stream, Path.GetFileName(path), samplingRateHz);
    }

    /// <summary>Reads a table from <paramref name="stream"/>; <paramref name="name"/> is used in error messages.</summary>
    public static SpikefinderTable Read(Stream stream, string name, double samplingRateHz = DefaultRateHz)
    {
        Check.Positive("rateHz", samplingRateHz);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        string? headerLine = reader.ReadLine();
        if (headerLine is null || headerLine.Trim().Length == 0)
            throw new SpikefinderFormatException(name, null, null, "content", "(empty)", "a header row of column names followed by one row per sample");
        string[] names = headerLine.Split(',');
        for (int j = 0; j < names.Length; j++)
        {
            string h = names[j].Trim();
            names[j] = h;
            bool fractional = double.TryParse(h, NumberStyles.Float, CultureInfo.InvariantCulture, out double hv) && hv != Math.Floor(hv);
            if (h.Length == 0 || fractional || Array.IndexOf(names, h, 0, j) >= 0)
                throw new SpikefinderFormatException(name, 1, j + 1, $"header column {j + 1}", h,
                    "a unique column name (the first line must be a header such as 0,1,2; this one looks like data)");
        }

        int cols = names.Length;
        var data = new List<double>[cols];
        for (int j = 0; j < cols; j++) data[j] = new List<double>();
        var lastValid = new int[cols];
        Array.Fill(lastValid, -1);
        int line = 1, row = 0, pendingEmptyLines = 0;
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            line++;
            if (text.Trim().Length == 0)
            {
                // Blank lines are rows of empty cells; at the end of the file they are ignored.
                pendingEmptyLines++;
                continue;
            }
            for (; pendingEmptyLines > 0; pendingEmptyLines--, row++)
                for (int j = 0; j < cols; j++) data[j].Add(double.NaN);

            int j2 = 0, start = 0;
            for (int pos = 0; pos <= text.Length; pos++)
            {
                if (pos < text.Length && text[pos] != ',') continue;
                if (j2 >= cols)
                    throw new SpikefinderFormatException(name, line, j2 + 1, "cells in the row", CountCells(text),
                        $"at most {cols}, the header's column count (column {j2 + 1} has no header: a ragged row)");
                var cell = text.AsSpan(start, pos - start).Trim();
                double v = ParseCell(cell, name, line, j2, names[j2]);
                data[j2].Add(v);
                if (!double.IsNaN(v)) lastValid[j2] = row;
                j2++;
                start = pos + 1;
            }
            for (; j2 < cols; j2++) data[j2].Add(double.NaN);
            row++;
        }
        if (row == 0)
            throw new SpikefinderFormatException(name, null, null, "content", "(header only)", "at least one row of samples after the header");

        var columns = new double[cols][];
        for (int j = 0; j < cols; j++)
        {
            if (lastValid[j] < 0)
                throw new SpikefinderFormatException(name, null, j + 1, $"column {j + 1} ('{names[j]}')", "(no values)", "at least one number (every cell is empty or NaN)");
            columns[j] = data[j].GetRange(0, lastValid[j] + 1).ToArray();
        }
        return new SpikefinderTable(names, columns, samplingRateHz);
    }

    /// <summary>Writes <paramref name="table"/> to <paramref name="path"/> in the same layout (header of names, shorter
    /// columns padded with empty cells, NaN inside a column written as an empty cell, numbers round-trip exact).</summary>
    public static void Write(string path, SpikefinderTable table)
    {
        using var stream = File.Create(path);
        Write(stream, table);
    }

    /// <summary>Writes columns named 0, 1, 2, ... to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<double[]> columns) =>
        Write(path, new SpikefinderTable(Enumerable.Range(0, columns.Count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(), columns));

    /// <summary>Writes <paramref name="table"/> to <paramref name="stream"/> (left open).</summary>
    public static void Write(Stream stream, SpikefinderTable table)
    {
        using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        w.WriteLine(string.Join(',', table.Names));
        int rows = table.Rows;
        var sb = new StringBuilder();
        for (int r = 0; r < rows; r++)
        {
            sb.Clear();
            for (int j = 0; j < table.Count; j++)
            {
                if (j > 0) sb.Append(',');
                var c = table.Columns[j];
                if (r < c.Length && !double.IsNaN(c[r])) sb.Append(c[r].ToString("R", CultureInfo.InvariantCulture));
            }
            w.WriteLine(sb);
        }
    }

    private static double ParseCell(ReadOnlySpan<char> cell, string file, int line, int col, string header)
    {
        if (cell.Length == 0 || cell.Equals("nan", StringComparison.OrdinalIgnoreCase)) return double.NaN;
        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && !double.IsNaN(v)) return v;
        throw new SpikefinderFormatException(file, line, col + 1, $"column {col + 1} ('{header}')", cell.ToString(), "a number, or empty / NaN for a missing value");
    }

    private static int CountCells(string text)
    {
        int n = 1;
        foreach (char ch in text) if (ch == ',') n++;
        return n;
    }
}
