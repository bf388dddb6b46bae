namespace SlimNet.Training.Tests;

/// <summary>TorchSharp tests share the process-wide RNG and thread pool, so they run one at a time.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;
