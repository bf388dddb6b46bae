namespace SlimNet.Format.Graph;

/// <summary>
/// Static shape inference over a <see cref="ModelGraph"/>: the output shape of every node (without the batch
/// dimension), the parameter tensors every node needs, and the multiply-accumulate count per input example.
/// </summary>
public static class GraphShapes
{
    /// <summary>Output shape of each node, without the batch dimension.</summary>
    /// <exception cref="ArgumentException">A node's input has the wrong rank or size (the message names the node).</exception>
    public static int[][] Infer(ModelGraph graph)
    {
        var shapes = new int[graph.Nodes.Count][];
        int[] In(int idx) => idx == ModelGraph.InputIndex ? graph.InputShape.ToArray() : shapes[idx];
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var n = graph.Nodes[i];
            var a = n.Attributes;
            var x = In(n.Inputs[0]);
            shapes[i] = n.Op switch
            {
                OpKind.Linear => Expect(n, x.Length == 1 && x[0] == a.InFeatures, $"[{a.InFeatures}]", x, new[] { a.OutFeatures }),
                OpKind.Conv2d => Expect(n, x.Length == 3 && x[0] == a.InFeatures, $"[{a.InFeatures}, H, W]", x,
                    new[] { a.OutFeatures, OutSize(n, x[1], a.KernelH), OutSize(n, x[2], a.KernelW) }),
                OpKind.BatchNorm => Expect(n, x.Length is 1 or 3 && x[0] == a.InFeatures, $"[{a.InFeatures}] or [{a.InFeatures}, H, W]", x, x),
                OpKind.ReLU or OpKind.Softmax => x,
                OpKind.MaxPool2d or OpKind.AvgPool2d => Expect(n, x.Length == 3, "[C, H, W]", x,
                    new[] { x[0], OutSize(n, x[1], a.KernelH), OutSize(n, x[2], a.KernelW) }),
                OpKind.GlobalAvgPool => Expect(n, x.Length == 3, "[C, H, W]", x, new[] { x[0] }),
                OpKind.Flatten => new[] { checked(x.Aggregate(1, (p, d) => p * d)) },
                OpKind.Lstm => Expect(n, x.Length == 1 && x[0] == a.InFeatures, $"[{a.InFeatures}]", x, new[] { a.OutFeatures }),
                OpKind.Add => Expect(n, x.SequenceEqual(In(n.Inputs[1])), "two inputs of one shape", x, x),
                _ => throw new ArgumentException($"node '{n.Name}': unknown operation {(int)n.Op}"),
            };
        }
        return shapes;
    }

    /// <summary>The parameter tensors of every node, as (tensor name, shape), in graph order.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> Parameters(ModelGraph graph)
    {
        var list = new List<(string, int[])>();
        foreach (var n in graph.Nodes)
        {
            var a = n.Attributes;
            switch (n.Op)
            {
                case OpKind.Linear:
                    list.Add((n.WeightName, new[] { a.OutFeatures, a.InFeatures }));
                    if (a.HasBias) list.Add((n.BiasName, new[] { a.OutFeatures }));
                    break;
                case OpKind.Conv2d:
                    list.Add((n.WeightName, new[] { a.OutFeatures, a.InFeatures, a.KernelH, a.KernelW }));
                    if (a.HasBias) list.Add((n.BiasName, new[] { a.OutFeatures }));
                    break;
                case OpKind.BatchNorm:
                    list.Add((n.WeightName, new[] { a.InFeatures }));
                    list.Add((n.BiasName, new[] { a.InFeatures }));
                    list.Add((n.RunningMeanName, new[] { a.InFeatures }));
                    list.Add((n.RunningVarName, new[] { a.InFeatures }));
                    break;
                case OpKind.Lstm:
                    list.AddRange(LstmParameters(n));
                    break;
            }
        }
        return list;
    }

    /// <summary>
    /// The tensors of an <see cref="OpKind.Lstm"/> node with hidden size H and input size I: <c>{node}.weight_ih</c> [4H, I],
    /// <c>{node}.weight_hh</c> [4H, H], <c>{node}.bias</c> [4H] (gate order i, f, g, o), then per normalization: batch —
    /// <c>norm_ih</c>/<c>norm_hh</c> <c>.weight .bias .running_mean .running_var</c> [4H]; layer — <c>norm_ih</c>/<c>norm_hh</c>
    /// <c>.weight .bias</c> [4H]; weight — <c>gain_ih</c>, <c>gain_hh</c> [4H].
    /// </summary>
    public static IReadOnlyList<(string Name, int[] Shape)> LstmParameters(GraphNode n)
    {
        int h4 = checked(4 * n.Attributes.OutFeatures);
        var list = new List<(string, int[])>
        {
            (n.Name + ".weight_ih", new[] { h4, n.Attributes.InFeatures }),
            (n.Name + ".weight_hh", new[] { h4, n.Attributes.OutFeatures }),
            (n.Name + ".bias", new[] { h4 }),
        };
        string[] suffixes = n.Attributes.LstmNormalization switch
        {
            LstmNormalization.Batch => new[] { "norm_ih.weight", "norm_ih.bias", "norm_ih.running_mean", "norm_ih.running_var",
                                               "norm_hh.weight", "norm_hh.bias", "norm_hh.running_mean", "norm_hh.running_var" },
            LstmNormalization.Layer => new[] { "norm_ih.weight", "norm_ih.bias", "norm_hh.weight", "norm_hh.bias" },
            LstmNormalization.Weight => new[] { "gain_ih", "gain_hh" },
            _ => Array.Empty<string>(),
        };
        foreach (var s in suffixes) list.Add((n.Name + "." + s, new[] { h4 }));
        return list;
    }

    /// <summary>Number of trainable parameters (weights and biases; BatchNorm γ and β, not its running statistics).</summary>
    public static long TrainableParameterCount(ModelGraph graph) =>
        Parameters(graph).Where(p => !p.Name.EndsWith(".running_mean", StringComparison.Ordinal) && !p.Name.EndsWith(".running_var", StringComparison.Ordinal))
            .Sum(p => p.Shape.Aggregate(1L, (x, d) => x * d));

    /// <summary>Multiply-accumulate operations of the Linear and Conv2d nodes for one input example.</summary>
    public static long MultiplyAccumulates(ModelGraph graph)
    {
        var shapes = Infer(graph);
        long macs = 0;
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var n = graph.Nodes[i];
            var a = n.Attributes;
            if (n.Op == OpKind.Linear) macs += (long)a.InFeatures * a.OutFeatures;
            else if (n.Op == OpKind.Lstm) macs += 4L * a.OutFeatures * (a.InFeatures + a.OutFeatures);
            else if (n.Op == OpKind.Conv2d) macs += (long)a.OutFeatures * shapes[i][1] * shapes[i][2] * a.InFeatures * a.KernelH * a.KernelW;
        }
        return macs;
    }

    private static int OutSize(GraphNode n, int size, int kernel)
    {
        var a = n.Attributes;
        if (kernel <= 0 || a.Stride <= 0 || a.Padding < 0)
            throw new ArgumentException($"node '{n.Name}': kernel and stride must be positive and padding non-negative");
        int o = (size + 2 * a.Padding - kernel) / a.Stride + 1;
        if (size + 2 * a.Padding < kernel || o <= 0)
            throw new ArgumentException($"node '{n.Name}': kernel {kernel} does not fit an input of size {size} with padding {a.Padding}");
        return o;
    }

    private static int[] Expect(GraphNode n, bool ok, string expected, int[] got, int[] result) =>
        ok ? result : throw new ArgumentException($"node '{n.Name}' ({n.Op}) expects input {expected}, got [{string.Join(", ", got)}]");
}
