namespace SlimNet.Training.Data;

/// <summary>
/// The standard CIFAR training augmentation (a definition): a random crop back to the original size
/// from the image padded by <see cref="Padding"/> pixels of zero on every side, then a horizontal flip
/// with probability ½. This is torchvision's <c>RandomCrop(32, padding=4)</c> +
/// <c>RandomHorizontalFlip()</c>; padding is the pixel byte 0, applied before normalisation, as there.
/// The random choices come from the <see cref="DataLoader"/>'s seed, so they are reproducible.
/// </summary>
/// <param name="Padding">Zero padding on each side before cropping, in pixels (4 for CIFAR).</param>
/// <param name="HorizontalFlip">Whether to flip left–right with probability ½.</param>
public sealed record CifarAugmentation(int Padding = 4, bool HorizontalFlip = true)
{
    /// <summary>Padding 4 and horizontal flips: the usual CIFAR-10/100 recipe.</summary>
    public static CifarAugmentation Standard { get; } = new();

    /// <summary>Number of possible crop offsets along each axis: 2 × Padding + 1.</summary>
    public int OffsetChoices => 2 * Padding + 1;

    /// <summary>
    /// Writes the augmented image: <c>destination[c, y, x] = source[c, y + offsetY − Padding, x' + offsetX − Padding]</c>
    /// with <c>x' = flip ? width − 1 − x : x</c>, and 0 where that falls outside the source.
    /// </summary>
    /// <param name="source">One image, C × H × W bytes (CHW).</param>
    /// <param name="destination">Receives the augmented image, same size.</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="offsetY">Crop row offset into the padded image, 0 … 2 × Padding (Padding = no shift).</param>
    /// <param name="offsetX">Crop column offset into the padded image, 0 … 2 × Padding.</param>
    /// <param name="flip">Mirror left–right after cropping.</param>
    public void Apply(ReadOnlySpan<byte> source, Span<byte> destination, int channels, int height, int width, int offsetY, int offsetX, bool flip)
    {
        int plane = height * width;
        if (source.Length != channels * plane || destination.Length != channels * plane)
            throw new ArgumentException($"source and destination must both be {channels}×{height}×{width} bytes");
        if ((uint)offsetY >= (uint)OffsetChoices || (uint)offsetX >= (uint)OffsetChoices)
            throw new ArgumentOutOfRangeException(nameof(offsetY), $"offsets must be in 0..{2 * Padding}");
        int dy = offsetY - Padding, dx = offsetX - Padding;
        for (int c = 0; c < channels; c++)
        {
            var src = source.Slice(c * plane, plane);
            var dst = destination.Slice(c * plane, plane);
            for (int y = 0; y < height; y++)
            {
                int sy = y + dy;
                var row = dst.Slice(y * width, width);
                if ((uint)sy >= (uint)height)
                {
                    row.Clear();
                    continue;
                }
                var srcRow = src.Slice(sy * width, width);
                for (int x = 0; x < width; x++)
                {
                    int sx = (flip ? width - 1 - x : x) + dx;
                    row[x] = (uint)sx < (uint)width ? srcRow[sx] : (byte)0;
                }
            }
        }
    }
}
