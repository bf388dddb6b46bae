using SlimNet.Format.Graph;

namespace SlimNet.Format;

/// <summary>
/// A compressed model as stored in a .slim file: the network graph, its parameter tensors (in file order)
/// and string metadata (e.g. <c>method</c>, <c>accuracy</c>). Immutable.
/// </summary>
public sealed class SlimModel
{
    /// <summary>Creates a model; tensor names must be unique and metadata keys non-empty.</summary>
    /// <exception cref="ArgumentException">Two tensors share a name, or a metadata key is empty.</exception>
    public SlimModel(ModelGraph graph, IReadOnlyList<SlimTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(tensors);
        var byName = new Dictionary<string, SlimTensor>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (!byName.TryAdd(t.Name, t)) throw new ArgumentException($"tensor name '{t.Name}' appears twice", nameof(tensors));
        }
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (metadata != null)
            foreach (var (k, v) in metadata)
            {
                if (string.IsNullOrEmpty(k)) throw new ArgumentException("metadata keys must be non-empty", nameof(metadata));
                meta[k] = v ?? throw new ArgumentException($"metadata value of '{k}' is null", nameof(metadata));
            }
        Graph = graph;
        Tensors = tensors.ToArray();
        Metadata = meta;
        _byName = byName;
    }

    private readonly Dictionary<string, SlimTensor> _byName;

    /// <summary>The network description.</summary>
    public ModelGraph Graph { get; }
    /// <summary>The parameter tensors, in file order.</summary>
    public IReadOnlyList<SlimTensor> Tensors { get; }
    /// <summary>Metadata, sorted by key (ordinal).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor called <paramref name="name"/>, or null.</summary>
    public SlimTensor? FindTensor(string name) => _byName.GetValueOrDefault(name);
}
