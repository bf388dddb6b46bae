using SlimNet.Compression.Pruning;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Cli.Reports;

/// <summary>Test accuracy of the model with one weight tensor pruned to <paramref name="Sparsity"/>.</summary>
/// <param name="Sparsity">Fraction of the tensor's weights set to zero, in [0, 1).</param>
/// <param name="Accuracy">Test accuracy as a fraction in [0, 1].</param>
public sealed record SensitivityPoint(double Sparsity, double Accuracy);

/// <summary>The sensitivity curve of one weight tensor.</summary>
/// <param name="Layer">Parameter name, e.g. <c>fc1.weight</c>.</param>
/// <param name="Elements">Number of weights in the tensor.</param>
/// <param name="Points">One point per tested sparsity, ascending.</param>
/// <param name="SuggestedSparsity">
/// The largest tested sparsity s such that every tested sparsity up to s keeps the accuracy within the allowed drop of
/// the unpruned model (0 when even the smallest one does not).
/// </param>
public sealed record LayerSensitivity(string Layer, long Elements, IReadOnlyList<SensitivityPoint> Points, double SuggestedSparsity);

/// <summary>The result of a sensitivity analysis.</summary>
/// <param name="BaselineAccuracy">Accuracy of the unpruned model on the same examples (fraction).</param>
/// <param name="MaxDropPoints">The allowed accuracy drop in percentage points.</param>
/// <param name="Layers">One curve per analysed weight tensor, in graph order.</param>
public sealed record SensitivityResult(double BaselineAccuracy, double MaxDropPoints, IReadOnlyList<LayerSensitivity> Layers);

/// <summary>
/// Pruning sensitivity analysis (Han et al., Deep Compression): each weight tensor is pruned <em>alone</em> by
/// magnitude to each sparsity, without retraining, the model is evaluated, and the tensor's weights are put back
/// before the next one. Magnitude pruning here ranks exactly as <see cref="MaskSelection"/> does (|w| ascending, ties
/// lowest index first, <c>round(s·n)</c> weights), so the curves describe what a one-shot recipe stage would do.
/// </summary>
public static class SensitivityAnalysis
{
    /// <summary>The weights a sensitivity analysis can prune: <c>*.weight</c> of every Linear and Conv2d node, in graph order.</summary>
    public static IReadOnlyList<string> PrunableWeights(ModelGraph graph) =>
        graph.Nodes.Where(n => n.Op is OpKind.Linear or OpKind.Conv2d).Select(n => n.WeightName).ToArray();

    /// <summary>
    /// Runs the analysis on <paramref name="module"/> (left with its original weights afterwards, also on failure).
    /// </summary>
    /// <param name="module">The trained model.</param>
    /// <param name="layers">Parameter names to analyse.</param>
    /// <param name="sparsities">Sparsities to test, each in [0, 1).</param>
    /// <param name="test">The examples to evaluate on.</param>
    /// <param name="normalization">Input normalisation of the dataset.</param>
    /// <param name="maxDropPoints">Allowed accuracy drop for the suggestion, in percentage points.</param>
    /// <param name="evaluated">Called after every evaluation with the layer, the sparsity and the accuracy.</param>
    public static SensitivityResult Run(nn.Module<Tensor, Tensor> module, IReadOnlyList<string> layers, IReadOnlyList<double> sparsities,
        Dataset test, ChannelNormalization normalization, double maxDropPoints, Action<string, double, double>? evaluated = null)
    {
        var ordered = sparsities.Order().ToArray();
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        double baseline = Evaluator.Evaluate(module, test, normalization).Accuracy;
        var results = new List<LayerSensitivity>(layers.Count);
        foreach (var name in layers)
        {
            if (!parameters.TryGetValue(name, out var parameter))
                throw new ArgumentException($"the model has no parameter '{name}'");
            var original = ModelTensors.ToArray(name, parameter);
            int[] ranking = MagnitudeRanking(original.Data);
            var points = new List<SensitivityPoint>(ordered.Length);
            try
            {
                var pruned = new float[original.Data.Length];
                foreach (double s in ordered)
                {
                    original.Data.CopyTo(pruned, 0);
                    long count = MaskSelection.PruneCount(s, pruned.Length);
                    for (long r = 0; r < count; r++) pruned[ranking[r]] = 0f;
                    Load(parameter, pruned, original.Shape);
                    double accuracy = Evaluator.Evaluate(module, test, normalization).Accuracy;
                    points.Add(new SensitivityPoint(s, accuracy));
                    evaluated?.Invoke(name, s, accuracy);
                }
            }
            finally
            {
                Load(parameter, original.Data, original.Shape);
            }
            results.Add(new LayerSensitivity(name, original.Data.Length, points, Suggest(baseline, points, maxDropPoints)));
        }
        return new SensitivityResult(baseline, maxDropPoints, results);
    }

    /// <summary>
    /// The largest sparsity s of <paramref name="points"/> (ascending) such that every point up to s has an accuracy at
    /// most <paramref name="maxDropPoints"/> percentage points below <paramref name="baseline"/>; 0 if the first fails.
    /// Stopping at the first failure keeps a noisy recovery at a higher sparsity from being suggested.
    /// </summary>
    public static double Suggest(double baseline, IReadOnlyList<SensitivityPoint> points, double maxDropPoints)
    {
        double suggested = 0;
        foreach (var p in points)
        {
            // A tiny tolerance so that a drop of exactly maxDrop (e.g. 10 of 2,000 examples for 0.5 pp) passes.
            if (100 * (baseline - p.Accuracy) > maxDropPoints + 1e-9) break;
            suggested = p.Sparsity;
        }
        return suggested;
    }

    /// <summary>Flat indices ranked by |w| ascending, ties by index (NaN first), as <see cref="MaskSelection.KeepFlags"/> ranks them.</summary>
    private static int[] MagnitudeRanking(float[] weights)
    {
        var order = new int[weights.Length];
        var keys = new double[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            order[i] = i;
            keys[i] = float.IsNaN(weights[i]) ? -1.0 : Math.Abs(weights[i]);
        }
        Array.Sort(order, (a, b) =>
        {
            int byKey = keys[a].CompareTo(keys[b]);
            return byKey != 0 ? byKey : a.CompareTo(b);
        });
        return order;
    }

    private static void Load(Tensor parameter, float[] values, long[] shape)
    {
        using var noGrad = torch.no_grad();
        using var source = torch.tensor(values, shape);
        parameter.copy_(source);
    }
}
