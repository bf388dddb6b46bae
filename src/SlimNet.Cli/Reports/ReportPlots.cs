using System.Globalization;
using ScottPlot;
using Color = ScottPlot.Color;
using Colors = ScottPlot.Colors;
using Alignment = ScottPlot.Alignment;

namespace SlimNet.Cli.Reports;

/// <summary>One bar group of a per-tensor bar chart.</summary>
/// <param name="Name">Tensor name (the x tick label).</param>
/// <param name="ValueBits">Bits per stored weight spent on values, codebooks and scales.</param>
/// <param name="IndexBits">Bits per stored weight spent on sparse indices and row pointers.</param>
/// <param name="HeaderBits">Bits per stored weight spent on the tensor's section framing and header.</param>
public sealed record TensorBits(string Name, double ValueBits, double IndexBits, double HeaderBits);

/// <summary>One result of a sweep for the accuracy-versus-compression plot.</summary>
/// <param name="Label">Text written beside the point.</param>
/// <param name="Ratio">Compression ratio (dense fp32 bytes / file bytes).</param>
/// <param name="Accuracy">Test accuracy as a fraction.</param>
public sealed record SweepPoint(string Label, double Ratio, double Accuracy);

/// <summary>
/// The PNG plots of <c>slimnet sensitivity</c> and <c>slimnet report</c> (ScottPlot 5, rendered headless by SkiaSharp):
/// every plot has a title, axis labels with units and, when it shows more than one series, a legend. Images are
/// <see cref="Width"/>×<see cref="Height"/> pixels unless many categories need more width.
/// </summary>
public static class ReportPlots
{
    /// <summary>Default image width in pixels.</summary>
    public const int Width = 800;
    /// <summary>Default image height in pixels.</summary>
    public const int Height = 500;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Accuracy (%) against sparsity (%) with one line per layer, the unpruned accuracy and the allowed drop.</summary>
    public static byte[] Sensitivity(SensitivityResult result, string title)
    {
        var plot = Create(title, "sparsity of the pruned layer (%)", "test accuracy (%)");
        foreach (var layer in result.Layers)
        {
            // Every curve starts at the unpruned model (sparsity 0).
            double[] xs = layer.Points.Select(p => 100 * p.Sparsity).Prepend(0).ToArray();
            double[] ys = layer.Points.Select(p => 100 * p.Accuracy).Prepend(100 * result.BaselineAccuracy).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = layer.Layer;
            line.LineWidth = 2;
            line.MarkerSize = 6;
        }
        var baseline = plot.Add.HorizontalLine(100 * result.BaselineAccuracy);
        baseline.LinePattern = LinePattern.Dashed;
        baseline.Color = Colors.Black;
        baseline.LineWidth = 1;
        baseline.LegendText = $"unpruned ({100 * result.BaselineAccuracy:F2}%)";
        var floor = plot.Add.HorizontalLine(100 * result.BaselineAccuracy - result.MaxDropPoints);
        floor.LinePattern = LinePattern.Dotted;
        floor.Color = Colors.Gray;
        floor.LineWidth = 1;
        floor.LegendText = $"allowed drop ({result.MaxDropPoints.ToString("0.##", Inv)} pp)";
        plot.Axes.SetLimitsX(0, 100);
        plot.ShowLegend(Alignment.LowerLeft);
        return Render(plot, Width, Height);
    }

    /// <summary>Bar chart of the pruned fraction (%) of each tensor.</summary>
    public static byte[] Sparsity(IReadOnlyList<(string Name, double Sparsity)> tensors, string title)
    {
        var plot = Create(title, "weight tensor", "pruned weights (%)");
        var bars = tensors.Select((t, i) => new Bar
        {
            Position = i,
            Value = 100 * t.Sparsity,
            FillColor = Colors.SteelBlue,
            Label = $"{100 * t.Sparsity:F1}%",
        }).ToList();
        plot.Add.Bars(bars);
        CategoryTicks(plot, tensors.Select(t => t.Name).ToArray());
        plot.Axes.SetLimitsY(0, 110);
        return Render(plot, CategoryWidth(tensors.Count), Height);
    }

    /// <summary>Stacked bars of the bits each stored weight costs, split into values, indices and header.</summary>
    public static byte[] Bits(IReadOnlyList<TensorBits> tensors, string title)
    {
        var plot = Create(title, "weight tensor", "bits per stored weight");
        var parts = new (string Legend, Color Color, Func<TensorBits, double> Get)[]
        {
            ("values, codebook and scales", Colors.SteelBlue, t => t.ValueBits),
            ("sparse indices", Colors.Orange, t => t.IndexBits),
            ("tensor header", Colors.Gray, t => t.HeaderBits),
        };
        var bottoms = new double[tensors.Count];
        foreach (var (legend, color, get) in parts)
        {
            var bars = new List<Bar>();
            for (int i = 0; i < tensors.Count; i++)
            {
                double v = get(tensors[i]);
                bars.Add(new Bar { Position = i, ValueBase = bottoms[i], Value = bottoms[i] + v, FillColor = color });
                bottoms[i] += v;
            }
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = legend;
        }
        // Totals above the stacks.
        for (int i = 0; i < tensors.Count; i++)
        {
            var text = plot.Add.Text($"{bottoms[i]:F2}", i, bottoms[i]);
            text.LabelFontSize = 12;
            text.LabelAlignment = Alignment.LowerCenter;
        }
        CategoryTicks(plot, tensors.Select(t => t.Name).ToArray());
        // Head room so the legend does not cover the totals.
        plot.Axes.SetLimitsY(0, Math.Max(1, bottoms.DefaultIfEmpty(0).Max()) * 1.4);
        plot.ShowLegend(Alignment.UpperRight);
        return Render(plot, CategoryWidth(tensors.Count), Height);
    }

    /// <summary>
    /// Histogram of one tensor's weights: all weights before compression (when known) and the nonzero weights after,
    /// over the same bins. The y axis counts weights per bin on a log scale, since shared weights pile up in a few bins.
    /// </summary>
    public static byte[] WeightHistogram(string tensor, float[]? before, float[] afterNonzero, string title, int binCount = 80)
    {
        var plot = Create(title, "weight value", "weights per bin (log scale)");
        var all = (before ?? Array.Empty<float>()).Concat(afterNonzero).Where(float.IsFinite).ToArray();
        double min = all.Length == 0 ? -1 : all.Min(), max = all.Length == 0 ? 1 : all.Max();
        if (max <= min) { min -= 0.5; max += 0.5; }
        double width = (max - min) / binCount;
        if (before is not null)
        {
            var bars = plot.Add.Bars(HistogramBars(before, min, width, binCount, Colors.SteelBlue.WithAlpha(0.55)));
            bars.LegendText = $"before: all {before.Length:N0} weights";
        }
        var after = plot.Add.Bars(HistogramBars(afterNonzero, min, width, binCount, Colors.OrangeRed.WithAlpha(0.75)));
        after.LegendText = $"after: {afterNonzero.Length:N0} nonzero weights";
        LogTicks(plot.Axes.Left);
        plot.Axes.SetLimitsX(min - width, max + width);
        plot.ShowLegend(Alignment.UpperRight);
        return Render(plot, Width, Height);
    }

    /// <summary>
    /// Test accuracy (%) against compression ratio (log scale): the compressed models joined in ratio order, each labelled
    /// with its name, ratio and accuracy, and the dense baseline (ratio 1) as a separate marker when known.
    /// </summary>
    public static byte[] AccuracyVersusRatio(IReadOnlyList<SweepPoint> points, SweepPoint? baseline, string title)
    {
        var plot = Create(title, RatioAxisLabel, "test accuracy (%)");
        var sorted = points.OrderBy(p => p.Ratio).ToArray();
        var all = baseline is null ? sorted : sorted.Prepend(baseline).ToArray();
        double[] xs = sorted.Select(LogRatio).ToArray();
        double[] ys = sorted.Select(p => 100 * p.Accuracy).ToArray();
        var line = plot.Add.Scatter(xs, ys);
        line.LegendText = "compressed models";
        line.LineWidth = 2;
        line.MarkerSize = 9;
        if (baseline is not null) AddBaseline(plot, baseline);
        foreach (var p in all)
        {
            var text = plot.Add.Text($"{p.Label} ({p.Ratio:0.#}x, {100 * p.Accuracy:0.00}%)", LogRatio(p), 100 * p.Accuracy);
            text.LabelFontSize = 12;
            text.LabelAlignment = Alignment.LowerLeft;
            text.OffsetX = 6;
            text.OffsetY = -6;
        }
        // Room on the right for the label of the last point.
        RatioAccuracyLimits(plot, all, right: 0.45, bottom: 0.25, top: 0.35);
        plot.ShowLegend(Alignment.LowerLeft);
        return Render(plot, Width, Height);
    }

    /// <summary>
    /// Trade-off curves: test accuracy (%) against compression ratio (log scale), one line per mode (e.g. post-training,
    /// in-training, combined), points joined in ratio order, and the dense baseline as a marker when known.
    /// </summary>
    public static byte[] TradeOffCurves(IReadOnlyList<(string Mode, IReadOnlyList<SweepPoint> Points)> curves, SweepPoint? baseline, string title)
    {
        var plot = Create(title, RatioAxisLabel, "test accuracy (%)");
        var all = curves.SelectMany(c => c.Points).ToList();
        if (baseline is not null) all.Add(baseline);
        MarkerShape[] shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.OpenCircle];
        int k = 0;
        foreach (var (mode, points) in curves)
        {
            var sorted = points.OrderBy(p => p.Ratio).ToArray();
            var line = plot.Add.Scatter(sorted.Select(LogRatio).ToArray(), sorted.Select(p => 100 * p.Accuracy).ToArray());
            line.LegendText = mode;
            line.LineWidth = 2;
            line.MarkerSize = 8;
            line.MarkerShape = shapes[k++ % shapes.Length];
        }
        if (baseline is not null) AddBaseline(plot, baseline);
        RatioAccuracyLimits(plot, all, right: 0.1, bottom: 0.15, top: 0.15);
        plot.ShowLegend(Alignment.LowerLeft);
        return Render(plot, Width, Height);
    }

    private const string RatioAxisLabel = "compression ratio (dense fp32 bytes / file bytes, log scale)";

    /// <summary>The x position of a point on the ratio axis: log10 of its ratio (floored at 1e-6).</summary>
    private static double LogRatio(SweepPoint p) => Math.Log10(Math.Max(p.Ratio, 1e-6));

    /// <summary>The dense baseline as a black diamond marker with its legend entry.</summary>
    private static void AddBaseline(Plot plot, SweepPoint baseline)
    {
        var dense = plot.Add.Scatter(new[] { LogRatio(baseline) }, new[] { 100 * baseline.Accuracy });
        dense.LegendText = "dense fp32 baseline";
        dense.LineWidth = 0;
        dense.MarkerSize = 11;
        dense.MarkerShape = MarkerShape.FilledDiamond;
        dense.Color = Colors.Black;
    }

    /// <summary>
    /// Ratio ticks and the limits of an accuracy-versus-ratio plot around <paramref name="all"/> points: 0.1 of the log-ratio
    /// span (at least 0.5) on the left and <paramref name="right"/> on the right; <paramref name="bottom"/> and
    /// <paramref name="top"/> of the accuracy span (at least 1 point) below and above.
    /// </summary>
    private static void RatioAccuracyLimits(Plot plot, IEnumerable<SweepPoint> all, double right, double bottom, double top)
    {
        double lo = all.Select(LogRatio).DefaultIfEmpty(0).Min(), hi = all.Select(LogRatio).DefaultIfEmpty(1).Max();
        double span = Math.Max(hi - lo, 0.5);
        RatioTicks(plot.Axes.Bottom, lo - 0.1 * span, hi + right * span);
        plot.Axes.SetLimitsX(lo - 0.1 * span, hi + right * span);
        double ylo = all.Select(p => 100 * p.Accuracy).DefaultIfEmpty(0).Min(), yhi = all.Select(p => 100 * p.Accuracy).DefaultIfEmpty(100).Max();
        double yspan = Math.Max(yhi - ylo, 1);
        plot.Axes.SetLimitsY(ylo - bottom * yspan, yhi + top * yspan);
    }

    /// <summary>
    /// An installed sans-serif family, or null for ScottPlot's default. Headless Skia otherwise may pick the first face
    /// fontconfig lists (often a serif); DejaVu Sans comes with fonts-dejavu-core, which scripts/setup.sh installs.
    /// </summary>
    private static readonly string? SansFamily = FindSansFamily();

    private static string? FindSansFamily()
    {
        var installed = SkiaSharp.SKFontManager.Default.FontFamilies.ToHashSet(StringComparer.OrdinalIgnoreCase);
        return new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" }.FirstOrDefault(installed.Contains);
    }

    private static Plot Create(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        if (SansFamily is { } family) plot.Font.Set(family);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    private static byte[] Render(Plot plot, int width, int height) => plot.GetImageBytes(width, height, ImageFormat.Png);

    /// <summary>Wider images for many categories, so tick labels do not collide.</summary>
    private static int CategoryWidth(int count) => Math.Max(Width, 60 * count + 160);

    private static void CategoryTicks(Plot plot, string[] names)
    {
        var ticks = names.Select((n, i) => new Tick(i, n)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        if (names.Length > 6 || names.Any(n => n.Length > 14))
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        }
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsX(-0.6, names.Length - 0.4);
    }

    private static List<Bar> HistogramBars(float[] values, double min, double width, int binCount, Color color)
    {
        var counts = new long[binCount];
        foreach (float v in values)
        {
            if (!float.IsFinite(v)) continue;
            int b = (int)Math.Floor((v - min) / width);
            counts[Math.Clamp(b, 0, binCount - 1)]++;
        }
        var bars = new List<Bar>(binCount);
        for (int b = 0; b < binCount; b++)
        {
            if (counts[b] == 0) continue;
            // log10(count + 1): one weight in a bin still shows, and empty bins are left out.
            bars.Add(new Bar { Position = min + (b + 0.5) * width, Value = Math.Log10(counts[b] + 1), Size = width, FillColor = color, LineWidth = 0 });
        }
        return bars;
    }

    /// <summary>Ticks at 1, 2, 5 × 10^k (shown as "5x", "10x", …) on an axis whose data are log10 ratios.</summary>
    private static void RatioTicks(ScottPlot.IAxis axis, double lo, double hi)
    {
        var ticks = new List<Tick>();
        for (int k = (int)Math.Floor(lo) - 1; k <= (int)Math.Ceiling(hi); k++)
            foreach (double m in new[] { 1.0, 2.0, 5.0 })
            {
                double value = m * Math.Pow(10, k), position = Math.Log10(value);
                if (position >= lo && position <= hi) ticks.Add(new Tick(position, value.ToString("0.###", Inv) + "x"));
            }
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
    }

    /// <summary>Ticks at powers of ten for an axis whose data are log10 values; labels show the plain numbers.</summary>
    private static void LogTicks(ScottPlot.IAxis axis)
    {
        var generator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => Math.Pow(10, v).ToString(Math.Pow(10, v) >= 1 ? "#,0" : "0.###", Inv),
        };
        axis.TickGenerator = generator;
    }
}
