using SlimNet.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Trainer;

/// <summary>Measures a module's accuracy and mean cross-entropy on a dataset (eval mode, no gradients).</summary>
public static class Evaluator
{
    /// <summary>Returns (accuracy as a fraction in [0, 1], mean loss).</summary>
    public static (double Accuracy, double Loss) Evaluate(nn.Module<Tensor, Tensor> module, Dataset data, ChannelNormalization normalization, int batchSize = 1000)
    {
        bool wasTraining = module.training;
        module.eval();
        try
        {
            using var noGrad = torch.no_grad();
            var loader = new DataLoader(data, batchSize, shuffle: false, seed: 0, normalization);
            long correct = 0;
            double lossSum = 0;
            foreach (var batch in loader.Batches(0))
            {
                using var scope = torch.NewDisposeScope();
                using (batch)
                {
                    var logits = module.forward(batch.X);
                    lossSum += nn.functional.cross_entropy(logits, batch.Y, reduction: nn.Reduction.Sum).item<float>();
                    correct += logits.argmax(1).eq(batch.Y).sum().item<long>();
                }
            }
            return ((double)correct / data.Count, lossSum / data.Count);
        }
        finally
        {
            if (wasTraining) module.train();
        }
    }
}
