namespace SlimNet.Compression.Sharing;

/// <summary>
/// What the .slim writer stores for one weight-shared parameter: the nonzero positions, one code per nonzero and
/// the codebook. Rebuild: <c>w[Positions[i]] = Codebook[Codes[i]]</c>, every other entry 0.
/// </summary>
/// <param name="ParameterName">Dotted parameter name.</param>
/// <param name="Shape">Tensor shape (row-major).</param>
/// <param name="Bits">Code width b; the codebook has 2^b entries.</param>
/// <param name="Codebook">Centroid values: 2^b floats, or 2^b − 1 when the tensor has zeros (the last code is then kept for 0; unused clusters keep their last value).</param>
/// <param name="Positions">Flat row-major indices of the nonzero weights, ascending.</param>
/// <param name="Codes">Cluster index of each nonzero weight, aligned with <paramref name="Positions"/>.</param>
public sealed record SharedWeights(string ParameterName, long[] Shape, int Bits, float[] Codebook, int[] Positions, ushort[] Codes)
{
    /// <summary>The dense weights this record encodes, flat row-major.</summary>
    public float[] ToDense()
    {
        long count = Shape.Aggregate(1L, (a, b) => a * b);
        var dense = new float[count];
        for (int i = 0; i < Positions.Length; i++) dense[Positions[i]] = Codebook[Codes[i]];
        return dense;
    }
}

/// <summary>How the shared centroids learn during fine-tuning (see <see cref="WeightSharing"/>).</summary>
public enum CentroidUpdate
{
    /// <summary>
    /// The optimizer steps the weights as usual; afterwards each centroid becomes the mean of its members and the
    /// members are snapped to it. With plain SGD this is <c>c ← c − lr·mean(g)</c>, i.e. the paper's summed gradient
    /// with a step size divided by the cluster size, and it works unchanged with momentum or Adam. Default.
    /// </summary>
    MemberMean,
    /// <summary>
    /// Han et al.'s rule verbatim: <c>c ← c − lr·Σ g</c> over the cluster's members, plain SGD with the stage's learning
    /// rate; whatever the optimizer did to the weights is overwritten by the snap. Large clusters take large steps.
    /// </summary>
    GradientSum,
}
