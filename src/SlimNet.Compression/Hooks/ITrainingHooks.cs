namespace SlimNet.Compression.Hooks;

/// <summary>
/// The points of the training loop where a compression method acts (DESIGN.md, "Objects"). The trainer calls
/// every registered hook set in registration order at each point, so several methods chain in one run; a
/// later method must keep what an earlier one did (a pruned weight stays exactly zero).
/// Implementations are sessions: they hold state (masks, importances, quantizer moments).
/// </summary>
public interface ITrainingHooks
{
    /// <summary>Once, before the first step: the model and its parameters exist, the optimizer too.</summary>
    void OnTrainingStart(TrainingContext context) { }

    /// <summary>Before each forward pass (for example, swap quantized weights in).</summary>
    void BeforeForward(TrainingContext context) { }

    /// <summary>After the backward pass, before the optimizer step (accumulate importance, mask gradients).</summary>
    void AfterBackward(TrainingContext context) { }

    /// <summary>After the optimizer step (re-apply masks, re-quantize, restore shadow weights).</summary>
    void AfterOptimizerStep(TrainingContext context) { }

    /// <summary>At the end of every epoch, before evaluation (schedules, in-training quantization).</summary>
    void OnEpochEnd(TrainingContext context) { }

    /// <summary>Once, after the last epoch.</summary>
    void OnTrainingEnd(TrainingContext context) { }
}
