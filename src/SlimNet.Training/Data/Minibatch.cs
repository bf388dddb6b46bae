using TorchSharp;

namespace SlimNet.Training.Data;

/// <summary>
/// One minibatch: inputs <see cref="X"/> (float32 [B, C, H, W], normalised) and targets <see cref="Y"/>
/// (int64 [B], class indices). The tensors are fresh copies owned by the caller: dispose the batch (or
/// create it inside <c>torch.NewDisposeScope()</c>) when done with it.
/// </summary>
public sealed class Minibatch : IDisposable
{
    internal Minibatch(torch.Tensor x, torch.Tensor y, int index, int count)
    {
        X = x;
        Y = y;
        Index = index;
        Count = count;
    }

    /// <summary>Inputs, float32 [B, C, H, W], normalised per channel.</summary>
    public torch.Tensor X { get; }

    /// <summary>Targets, int64 [B], class indices.</summary>
    public torch.Tensor Y { get; }

    /// <summary>Position of this batch within its epoch, from 0.</summary>
    public int Index { get; }

    /// <summary>Examples in this batch, B (smaller than the batch size only for the last batch of an epoch).</summary>
    public int Count { get; }

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        X.Dispose();
        Y.Dispose();
    }
}
