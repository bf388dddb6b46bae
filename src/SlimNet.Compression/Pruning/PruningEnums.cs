namespace SlimNet.Compression.Pruning;

/// <summary>How important a weight is when choosing what to prune (larger = kept longer).</summary>
public enum PruningImportance
{
    /// <summary>|w| at the moment of pruning.</summary>
    Magnitude,
    /// <summary>First-order Taylor estimate Σ_steps |w·g|, accumulated after every backward pass since the layer was last pruned.</summary>
    Taylor,
}

/// <summary>Whether each layer reaches its own sparsity or one threshold ranks all layers together.</summary>
public enum PruningScope
{
    /// <summary>Each layer pruned to its own target.</summary>
    PerLayer,
    /// <summary>One ranking (one threshold) across all selected layers; the target is the overall sparsity.</summary>
    Global,
}
