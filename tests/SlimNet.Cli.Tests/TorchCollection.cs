namespace SlimNet.Cli.Tests;

/// <summary>In-process TorchSharp tests share the process-wide RNG and thread pool, so they run one at a time.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;
