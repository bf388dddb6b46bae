using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Runtime.Kernels;
using SlimNet.Runtime.Quantization;

namespace SlimNet.Runtime.Planning;

/// <summary>
/// Turns a validated <see cref="SlimModel"/> into plan steps over preallocated buffers. A node writes into
/// its input's buffer (in place) when it is the only reader of that input and the operation allows it
/// (ReLU, Softmax, unfolded BatchNorm, Flatten, Add); a folded BatchNorm is no step at all.
/// </summary>
internal sealed unsafe class ExecutionPlanner(SlimModel model, int maxBatch, SimdLevel level)
{
    /// <summary>
    /// Sparse Linear layers run batches below this size with <see cref="SlicedSparseKernels"/> (one example at a
    /// time, no per-non-zero loads) and larger ones as CSR axpys across the batch, which read each weight once per batch.
    /// Read when a session is built; settable for measurements.
    /// </summary>
    internal static int SlicedBelowBatch { get; set; } = 8;

    private readonly ModelGraph _graph = model.Graph;
    private readonly List<object> _keepAlive = new();
    private long _bufferBytes;

    internal sealed record Result(PlanStep[] Steps, PinnedBuffer<float> Input, nint Output, int[] OutputShape, object[] KeepAlive, long BufferBytes);

    public Result Build()
    {
        var nodes = _graph.Nodes;
        int[][] shapes;
        try
        {
            shapes = GraphShapes.Infer(_graph);
        }
        catch (ArgumentException e)
        {
            string node = NodeNameIn(e.Message), prefix = $"node '{node}'";
            string problem = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..].TrimStart(':', ' ') : e.Message;
            throw new ModelValidationException(node, problem);
        }
        ValidateTensors();

        var consumers = new List<int>[nodes.Count];
        for (int i = 0; i < nodes.Count; i++) consumers[i] = new List<int>();
        for (int i = 0; i < nodes.Count; i++)
            foreach (int src in nodes[i].Inputs)
                if (src >= 0) consumers[src].Add(i);

        int inputSize = Size(_graph.InputShape.ToArray());
        var input = Allocate(inputSize);
        var buffers = new float*[nodes.Count];
        float* BufferOf(int idx) => idx == ModelGraph.InputIndex ? input.Pointer : buffers[idx];
        int[] ShapeOf(int idx) => idx == ModelGraph.InputIndex ? _graph.InputShape.ToArray() : shapes[idx];
        // The network input buffer is refilled on every call, so it may be overwritten like any single-reader buffer.
        bool SoleReader(int src, int reader) => src == ModelGraph.InputIndex
            ? nodes.Count(n => n.Inputs.Contains(ModelGraph.InputIndex)) == 1 && nodes[reader].Inputs.Count(i => i == src) == 1
            : consumers[src].Count == 1;

        var folded = FindFoldableBatchNorms(consumers);
        int scratchFloats = ScratchNeeded(shapes, ShapeOf);
        var scratch = AllocateTotal(scratchFloats);
        var steps = new List<PlanStep>();
        var layerSteps = new Dictionary<int, LayerStep>();

        for (int i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            var a = node.Attributes;
            int src = node.Inputs[0];
            float* x = BufferOf(src);
            int[] inShape = ShapeOf(src);
            int outSize = Size(shapes[i]);
            float* Own() => Allocate(outSize).Pointer;
            float* InPlaceOr() => SoleReader(src, i) ? x : Own();

            switch (node.Op)
            {
                case OpKind.Linear:
                case OpKind.Conv2d:
                {
                    bool folds = folded.TryGetValue(i, out int bnIndex);
                    var bitOp = BitOpStep(node, x, inShape, folds ? nodes[bnIndex] : null, outSize, out float* bitOpOut);
                    if (bitOp != null)
                    {
                        steps.Add(bitOp);
                        buffers[i] = bitOpOut;
                        layerSteps[i] = bitOp;
                        if (folds)
                        {
                            buffers[bnIndex] = buffers[i];
                            layerSteps[bnIndex] = bitOp;
                        }
                        break;
                    }
                    string inputQuant = "";
                    if (a.ActivationQuant is { } inQuant)
                    {
                        // On a Linear/Conv2d the declared quantizer applies to the layer's input (docs/FORMAT.md §3).
                        var quantizer = Quantizer(node, inQuant);
                        int inSize = Size(inShape);
                        float* xq = SoleReader(src, i) ? x : Allocate(inSize).Pointer;
                        steps.Add(new InputQuantStep(x, xq, inSize, quantizer)
                            { Description = $"{node.Name}: input quantized to the {quantizer.Describe()}{(xq == x ? " in place" : "")}" });
                        x = xq;
                        inputQuant = $", input {quantizer.Spec.Bits}-bit {quantizer.Spec.Kind}";
                    }
                    string what = node.Op == OpKind.Linear
                        ? $"{node.Name}: Linear {a.InFeatures}→{a.OutFeatures}"
                        : $"{node.Name}: Conv2d {a.InFeatures}→{a.OutFeatures} k{a.KernelH}x{a.KernelW} s{a.Stride} p{a.Padding} on {inShape[1]}x{inShape[2]}";
                    var signMask = SignMaskStep(node, x, inShape, folds ? nodes[bnIndex] : null, outSize, what, inputQuant, out float* signMaskOut);
                    if (signMask != null)
                    {
                        steps.Add(signMask);
                        buffers[i] = signMaskOut;
                        layerSteps[i] = signMask;
                        if (folds)
                        {
                            buffers[bnIndex] = buffers[i];
                            layerSteps[bnIndex] = signMask;
                        }
                        break;
                    }
                    var weights = LayerWeights.From(node.Name, Tensor(node.WeightName)!, a.HasBias ? Tensor(node.BiasName) : null);
                    string fold = "";
                    if (folds)
                    {
                        var bn = nodes[bnIndex];
                        var (scale, shift) = BatchNormScaleShift(bn);
                        weights.FoldBatchNorm(scale, shift);
                        fold = $", BatchNorm '{bn.Name}' folded in";
                    }
                    buffers[i] = Own();
                    var layer = LayerStep(node, weights, x, buffers[i], inShape, scratch.Pointer,
                        $"{what}, {weights.KernelName} kernel, weights {weights.Encoding}{inputQuant}{fold}");
                    steps.Add(layer);
                    layerSteps[i] = layer;
                    if (folds)
                    {
                        buffers[bnIndex] = buffers[i];
                        layerSteps[bnIndex] = layer;
                    }
                    break;
                }
                case OpKind.BatchNorm:
                    if (folded.ContainsValue(i)) break; // its producer wrote the normalized values already
                    {
                        var (scale, shift) = BatchNormScaleShift(node);
                        buffers[i] = InPlaceOr();
                        int channels = inShape[0], spatial = Size(inShape) / channels;
                        steps.Add(new BatchNormStep(x, buffers[i], channels, spatial, scale, shift)
                            { Description = $"{node.Name}: BatchNorm over {channels} channels (not foldable: applied as scale and shift)" });
                    }
                    break;
                case OpKind.ReLU:
                    if (src >= 0 && consumers[src].Count == 1 && !QuantizesOutput(nodes[src])
                        && layerSteps.TryGetValue(src, out var producer))
                    {
                        producer.FuseRelu(node.Name);
                        buffers[i] = x;
                        break;
                    }
                    buffers[i] = InPlaceOr();
                    steps.Add(new ReluStep(x, buffers[i], outSize) { Description = $"{node.Name}: ReLU{(buffers[i] == x ? " in place" : "")}" });
                    break;
                case OpKind.Softmax:
                {
                    buffers[i] = InPlaceOr();
                    int cols = inShape[^1];
                    steps.Add(new SoftmaxStep(x, buffers[i], outSize / cols, cols) { Description = $"{node.Name}: Softmax over {cols}" });
                    break;
                }
                case OpKind.Flatten:
                    if (SoleReader(src, i)) buffers[i] = x; // row-major NCHW already is the flattened layout
                    else
                    {
                        buffers[i] = Own();
                        steps.Add(new CopyStep(x, buffers[i], outSize) { Description = $"{node.Name}: Flatten (copy: its input has other readers)" });
                    }
                    break;
                case OpKind.MaxPool2d:
                case OpKind.AvgPool2d:
                    if (a.KernelH != a.KernelW)
                        throw new NotSupportedException($"node '{node.Name}': pooling with a non-square kernel ({a.KernelH}x{a.KernelW}) is not supported");
                    buffers[i] = Own();
                    steps.Add(new PoolStep(node.Op == OpKind.MaxPool2d, x, buffers[i], inShape[0], inShape[1], inShape[2], a.KernelH, a.Stride, a.Padding, outSize)
                        { Description = $"{node.Name}: {node.Op} k{a.KernelH} s{a.Stride} p{a.Padding}" });
                    break;
                case OpKind.GlobalAvgPool:
                    buffers[i] = Own();
                    steps.Add(new GlobalAvgPoolStep(x, buffers[i], inShape[0], inShape[1] * inShape[2]) { Description = $"{node.Name}: GlobalAvgPool" });
                    break;
                case OpKind.Add:
                {
                    int other = node.Inputs[1];
                    float* b = BufferOf(other);
                    buffers[i] = SoleReader(src, i) && src != other ? x : SoleReader(other, i) && src != other ? b : Own();
                    steps.Add(new AddStep(x, b, buffers[i], outSize) { Description = $"{node.Name}: Add" });
                    break;
                }
                case OpKind.Lstm:
                {
                    var lstm = LstmWeightsOf(node);
                    buffers[i] = Own();
                    steps.Add(new LstmStep(lstm, x, buffers[i], maxBatch)
                    {
                        Description = $"{node.Name}: Lstm {a.InFeatures}→{a.OutFeatures} ({a.LstmNormalization} normalization), state kept between runs, " +
                                      $"weights {Tensor(node.Name + ".weight_ih")!.Encoding}/{Tensor(node.Name + ".weight_hh")!.Encoding} decoded to float32 at load",
                    });
                    break;
                }
                default:
                    throw new NotSupportedException($"node '{node.Name}': operation {node.Op} is not supported by this runtime");
            }

            if (QuantizesOutput(node) && !folded.ContainsKey(i))
                steps.Add(QuantStep(node, a.ActivationQuant!, buffers[i], outSize));
        }

        _keepAlive.Add(input);
        _keepAlive.Add(scratch);
        return new Result(steps.ToArray(), input, (nint)buffers[^1], shapes[^1], _keepAlive.ToArray(), _bufferBytes);
    }

    private LayerStep LayerStep(GraphNode node, LayerWeights w, float* x, float* y, int[] inShape, float* scratch, string description)
    {
        var pinned = new PinnedWeights(w);
        _keepAlive.Add(pinned);
        return w.Kind switch
        {
            WeightValueKind.Float32 => Make(new DenseValues(pinned.Floats!.Pointer)),
            WeightValueKind.SmallCodebook => Make(new SmallCodebookValues(pinned.ByteCodes!.Pointer, pinned.Codebook!.Pointer)),
            WeightValueKind.ByteCodebook => Make(new ByteCodebookValues(pinned.ByteCodes!.Pointer, pinned.Codebook!.Pointer)),
            WeightValueKind.UInt16Codebook => Make(new UInt16CodebookValues(pinned.UInt16Codes!.Pointer, pinned.Codebook!.Pointer)),
            WeightValueKind.FixedPoint => Make(new FixedPointValues(pinned.FixedCodes!.Pointer, pinned.Scales!.Pointer, pinned.Scales.Length > 1)),
            _ => throw new NotSupportedException($"node '{node.Name}': weight kind {w.Kind}"),
        };

        LayerStep Make<TW>(TW values) where TW : struct, IWeightValues
        {
            var a = node.Attributes;
            if (node.Op == OpKind.Linear)
            {
                SlicedPath? sliced = null;
                if (w.IsSparse && level == SimdLevel.Vector512 && SlicedSparseKernels.IsVectorized)
                {
                    var m = w.ToSliced();
                    sliced = new SlicedPath(m, SlicedBelowBatch);
                    description += $"; batches below {SlicedBelowBatch}: sliced permute kernel ({m.SlotCount:N0} slots of 16, " +
                                   $"{(m.SlotCount == 0 ? 0 : (double)m.NonZeros / (16.0 * m.SlotCount)):P0} of lanes used, " +
                                   $"{(m.Codebook != null ? "codebook codes in the lanes" : "float values")})";
                }
                return new LinearStep<TW>(pinned, values, x, y, scratch, level) { Description = description, Sliced = sliced };
            }
            var g = ConvKernels.Geometry.Create(maxBatch, inShape[0], inShape[1], inShape[2], a.OutFeatures, a.KernelH, a.KernelW, a.Stride, a.Padding);
            return new ConvStep<TW>(pinned, values, g, x, y, scratch, level) { Description = description };
        }
    }

    /// <summary>
    /// The bit-op step of an LQ-Nets layer, or null when the layer is not one: dense ±1 bit-plane weights
    /// (<see cref="BitPlaneMode.PlusMinusOne"/>) and a {0,1} basis quantizer on its input. A BatchNorm folds into the
    /// per-row weight basis (exact: the bits stay as they are).
    /// </summary>
    private LayerStep? BitOpStep(GraphNode node, float* x, int[] inShape, GraphNode? bn, int outSize, out float* output)
    {
        output = null;
        var a = node.Attributes;
        var t = Tensor(node.WeightName)!;
        if (t.Encoding != ValueEncoding.BitPlanes || t.Sparsity != SparseLayout.Dense || t.PlaneMode != BitPlaneMode.PlusMinusOne
            || a.ActivationQuant is not { Kind: ActivationQuantKind.Basis, Signed: false } spec)
            return null;
        var quantizer = Quantizer(node, spec);
        var packed = BitOpPackedWeights.FromCodes(t.PlaneCodes(), t.Basis!, t.Rows, t.Columns, t.PlaneCount);
        float[]? bias = a.HasBias ? Tensor(node.BiasName)!.ToDense() : null;
        string fold = "";
        if (bn != null)
        {
            var (scale, shift) = BatchNormScaleShift(bn);
            packed.ScaleRows(scale);
            bias ??= new float[t.Rows];
            for (int r = 0; r < t.Rows; r++) bias[r] = bias[r] * scale[r] + shift[r];
            fold = $", BatchNorm '{bn.Name}' folded into the weight basis";
        }
        output = Allocate(outSize).Pointer;
        string kernel = $"bit-op kernel ({BitOpPackedKernels.DescribePath(packed, spec.Bits, level)}), " +
                        $"weights W{t.PlaneCount} bit planes, input quantized to the {quantizer.Describe()} and packed";
        _keepAlive.Add(packed);
        if (node.Op == OpKind.Linear)
            return new BitOpLinearStep(packed, bias, quantizer, x, output, maxBatch, level)
                { Description = $"{node.Name}: Linear {a.InFeatures}→{a.OutFeatures}, {kernel}{fold}" };
        var g = ConvKernels.Geometry.Create(maxBatch, inShape[0], inShape[1], inShape[2], a.OutFeatures, a.KernelH, a.KernelW, a.Stride, a.Padding);
        return new BitOpConvStep(packed, bias, quantizer, g, x, output, level)
            { Description = $"{node.Name}: Conv2d {a.InFeatures}→{a.OutFeatures} k{a.KernelH}x{a.KernelW} s{a.Stride} p{a.Padding} on {inShape[1]}x{inShape[2]}, " +
                            $"{kernel} (im2col per pixel){fold}" };
    }

    /// <summary>
    /// The binary/ternary step of a layer whose quantized weights take at most one positive and one negative value per
    /// row (BitPlanes with one ±1 plane; a codebook or fixed-point tensor of signs {−1, 0, +1} times scales), or null.
    /// </summary>
    private LayerStep? SignMaskStep(GraphNode node, float* x, int[] inShape, GraphNode? bn, int outSize, string what, string inputQuant, out float* output)
    {
        output = null;
        var a = node.Attributes;
        var t = Tensor(node.WeightName)!;
        var w = SignMaskFrom(t);
        if (w == null) return null;
        float[]? bias = a.HasBias ? Tensor(node.BiasName)!.ToDense() : null;
        string fold = "";
        if (bn != null)
        {
            var (scale, shift) = BatchNormScaleShift(bn);
            w.ScaleRows(scale);
            bias ??= new float[t.Rows];
            for (int r = 0; r < t.Rows; r++) bias[r] = bias[r] * scale[r] + shift[r];
            fold = $", BatchNorm '{bn.Name}' folded into the row scales";
        }
        _keepAlive.Add(w);
        output = Allocate(outSize).Pointer;
        string form = w.IsBinary ? "binary (±α per row)" : "ternary (+α⁺ / 0 / −α⁻ per row)";
        string kernel = node.Op == OpKind.Linear
            ? $"sign-mask kernel (additions of the inputs the bit masks select; batches from {SignMaskKernels.TransposeFromBatch}: transposed, whole-vector adds per set bit)"
            : "sign-mask kernel (im2col, whole-vector adds of the selected patch rows per set bit)";
        ConvKernels.Geometry? g = node.Op == OpKind.Linear ? null
            : ConvKernels.Geometry.Create(maxBatch, inShape[0], inShape[1], inShape[2], a.OutFeatures, a.KernelH, a.KernelW, a.Stride, a.Padding);
        return new SignMaskStep(w, bias, g, x, output, maxBatch, level)
            { Description = $"{what}, {kernel}, weights {form} from {t.Sparsity} {t.Encoding}{inputQuant}{fold}" };
    }

    /// <summary>Bit masks of a quantized weight tensor with at most one positive and one negative value per row, else null.</summary>
    internal static SignMaskWeights? SignMaskFrom(SlimTensor t)
    {
        int rows = t.Rows, cols = t.Columns;
        if (rows == 0 || cols == 0) return null;
        if (t.Encoding == ValueEncoding.BitPlanes)
        {
            if (t.PlaneCount != 1 || t.PlaneMode != BitPlaneMode.PlusMinusOne || t.Sparsity != SparseLayout.Dense) return null;
            var codes = t.PlaneCodes();
            var positive = new bool[codes.Length];
            for (int k = 0; k < codes.Length; k++) positive[k] = codes[k] != 0;
            return SignMaskWeights.Binary(positive, t.Basis!, rows, cols);
        }
        if (t.Encoding is not (ValueEncoding.Codebook or ValueEncoding.FixedPoint)) return null;
        if (t.Encoding == ValueEncoding.Codebook && t.Bits > 2) return null;
        if (t.Encoding == ValueEncoding.FixedPoint && t.FixedPointCodes!.Any(q => q is < -1 or > 1)) return null;
        var dense = t.ToDense();
        var signs = new sbyte[dense.Length];
        var plus = new float[rows];
        var minus = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            float p = 0, m = 0;
            for (int c = 0; c < cols; c++)
            {
                float v = dense[r * cols + c];
                if (!float.IsFinite(v)) return null;
                if (v > 0)
                {
                    if (p != 0 && p != v) return null;
                    p = v;
                    signs[r * cols + c] = 1;
                }
                else if (v < 0)
                {
                    if (m != 0 && m != -v) return null;
                    m = -v;
                    signs[r * cols + c] = -1;
                }
            }
            plus[r] = p;
            minus[r] = m;
        }
        return SignMaskWeights.Ternary(signs, plus, minus, rows, cols);
    }

    /// <summary>Largest scratch any step needs: im2col for convolutions, the transposes of batched CSR layers.</summary>
    private int ScratchNeeded(int[][] shapes, Func<int, int[]> shapeOf)
    {
        long most = 0;
        for (int i = 0; i < _graph.Nodes.Count; i++)
        {
            var n = _graph.Nodes[i];
            var a = n.Attributes;
            var inShape = shapeOf(n.Inputs[0]);
            if (n.Op == OpKind.Linear)
                most = Math.Max(most, SparseKernels.ScratchSize(maxBatch, a.InFeatures, a.OutFeatures));
            else if (n.Op == OpKind.Conv2d)
                most = Math.Max(most, Math.Max(
                    ConvKernels.ScratchSize(inShape[0], inShape[1], inShape[2], a.OutFeatures, a.KernelH, a.KernelW, a.Stride, a.Padding),
                    ConvKernels.SparseScratchSize(inShape[0], inShape[1], inShape[2], a.KernelH, a.KernelW, a.Stride, a.Padding)));
        }
        return checked((int)most);
    }

    /// <summary>
    /// BatchNorm nodes that can be folded, keyed by the Linear/Conv2d they fold into: the BN reads that layer,
    /// the layer has no other reader, and the layer quantizes no activations of its own (the fold would
    /// move the quantizer after the normalization).
    /// </summary>
    private Dictionary<int, int> FindFoldableBatchNorms(List<int>[] consumers)
    {
        var result = new Dictionary<int, int>();
        var nodes = _graph.Nodes;
        for (int i = 0; i < nodes.Count; i++)
        {
            if (nodes[i].Op != OpKind.BatchNorm) continue;
            int src = nodes[i].Inputs[0];
            if (src < 0) continue;
            var producer = nodes[src];
            if (producer.Op is OpKind.Linear or OpKind.Conv2d && consumers[src].Count == 1 && !QuantizesOutput(producer))
                result[src] = i;
        }
        return result;
    }

    /// <summary>An Lstm node's tensors decoded to float32, normalization folded into scales where it is affine.</summary>
    private LstmWeights LstmWeightsOf(GraphNode node)
    {
        var a = node.Attributes;
        int hid = a.OutFeatures, h4 = 4 * hid;
        float[] T(string suffix) => Tensor($"{node.Name}.{suffix}")!.ToDense();
        float[] wih = T("weight_ih"), whh = T("weight_hh");
        float[]? scaleIh = null, scaleHh = null, shiftIh = null, shiftHh = null, gammaIh = null, gammaHh = null;
        switch (a.LstmNormalization)
        {
            case LstmNormalization.Weight:
                scaleIh = LstmWeights.WeightNormScale(wih, T("gain_ih"), h4, a.InFeatures);
                scaleHh = LstmWeights.WeightNormScale(whh, T("gain_hh"), h4, hid);
                break;
            case LstmNormalization.Batch:
                scaleIh = new float[h4]; shiftIh = new float[h4]; scaleHh = new float[h4]; shiftHh = new float[h4];
                BatchNormKernels.ScaleShift(T("norm_ih.weight"), T("norm_ih.bias"), T("norm_ih.running_mean"), T("norm_ih.running_var"), a.Epsilon, scaleIh, shiftIh);
                BatchNormKernels.ScaleShift(T("norm_hh.weight"), T("norm_hh.bias"), T("norm_hh.running_mean"), T("norm_hh.running_var"), a.Epsilon, scaleHh, shiftHh);
                break;
            case LstmNormalization.Layer:
                gammaIh = T("norm_ih.weight"); shiftIh = T("norm_ih.bias"); gammaHh = T("norm_hh.weight"); shiftHh = T("norm_hh.bias");
                break;
        }
        return new LstmWeights
        {
            Input = a.InFeatures, Hidden = hid, Normalization = a.LstmNormalization, WeightIh = wih, WeightHh = whh, Bias = T("bias"),
            ScaleIh = scaleIh, ScaleHh = scaleHh, ShiftIh = shiftIh, ShiftHh = shiftHh, GammaIh = gammaIh, GammaHh = gammaHh, Epsilon = a.Epsilon,
        };
    }

    private (float[] Scale, float[] Shift) BatchNormScaleShift(GraphNode bn)
    {
        int c = bn.Attributes.InFeatures;
        var scale = new float[c];
        var shift = new float[c];
        BatchNormKernels.ScaleShift(Tensor(bn.WeightName)!.ToDense(), Tensor(bn.BiasName)!.ToDense(), Tensor(bn.RunningMeanName)!.ToDense(),
            Tensor(bn.RunningVarName)!.ToDense(), bn.Attributes.Epsilon, scale, shift);
        return (scale, shift);
    }

    /// <summary>
    /// Whether a node's declared activation quantizer applies to its output. On Linear and Conv2d it applies to the
    /// node's input instead (the LQ-Nets layout: a layer stores the quantizer of the activations it multiplies).
    /// </summary>
    internal static bool QuantizesOutput(GraphNode node) =>
        node.Attributes.ActivationQuant != null && node.Op is not (OpKind.Linear or OpKind.Conv2d);

    private static ActivationQuantizer Quantizer(GraphNode node, ActivationQuantization q)
    {
        var quantizer = ActivationQuantizer.Create(q, out string? problem);
        if (problem != null) throw new ModelValidationException(node.Name, problem);
        return quantizer;
    }

    private static PlanStep QuantStep(GraphNode node, ActivationQuantization q, float* y, int size)
    {
        var quantizer = Quantizer(node, q);
        return new InputQuantStep(y, y, size, quantizer) { Description = $"{node.Name}: activations quantized to the {quantizer.Describe()}" };
    }

    private void ValidateTensors()
    {
        foreach (var (name, shape) in GraphShapes.Parameters(_graph))
        {
            string node = name[..name.LastIndexOf('.')];
            var t = model.FindTensor(name) ?? throw new ModelValidationException(node, $"tensor '{name}' is missing from the model");
            int[] actual = t.Shape;
            if (!actual.SequenceEqual(shape))
                throw new ModelValidationException(node,
                    $"tensor '{name}' has shape [{string.Join(", ", actual)}], the node needs [{string.Join(", ", shape)}]");
        }
    }

    private SlimTensor? Tensor(string name) => model.FindTensor(name);

    private PinnedBuffer<float> Allocate(int perExample) => AllocateTotal(checked(perExample * maxBatch));

    private PinnedBuffer<float> AllocateTotal(int floats)
    {
        var buffer = new PinnedBuffer<float>(floats);
        _keepAlive.Add(buffer);
        _bufferBytes += (long)buffer.Length * sizeof(float);
        return buffer;
    }

    private static int Size(int[] shape) => shape.Aggregate(1, (p, d) => checked(p * d));

    private static string NodeNameIn(string message)
    {
        int start = message.IndexOf('\'');
        int end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        return end > start ? message[(start + 1)..end] : "?";
    }
}
