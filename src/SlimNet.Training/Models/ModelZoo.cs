using SlimNet.Format.Graph;
using SlimNet.Training.Data;

namespace SlimNet.Training.Models;

/// <summary>
/// A zoo model: its graph (the torch-free definition the trainer, the exporter and the runtime share), the data
/// it expects, and training defaults that reach the accuracy given in docs/RESULTS.md.
/// </summary>
public sealed record ZooModel(string Name, string Description, ModelGraph Graph, DatasetKind Dataset, TrainingDefaults Defaults);

/// <summary>Default training hyper-parameters of a zoo model (each can be overridden on the command line).</summary>
public sealed record TrainingDefaults(int Epochs, int BatchSize, double LearningRate, string Optimizer, string Schedule, double WeightDecay = 0, double Momentum = 0.9);

/// <summary>The networks SlimNet trains and compresses, by name. Layer names are what recipes address.</summary>
public static class ModelZoo
{
    private static readonly Dictionary<string, Func<ZooModel>> Factories = new(StringComparer.Ordinal)
    {
        ["lenet-300-100"] = LeNet300100,
        ["lenet-5"] = LeNet5,
        ["mlp-2048x3-bn"] = Mlp2048x3Bn,
        ["alexnet-cifar"] = AlexNetCifar,
        ["vgg16-cifar"] = Vgg16Cifar,
        ["vgg-small"] = VggSmall,
        ["resnet20"] = ResNet20,
        ["char-lstm"] = CharLstmDefault,
    };

    /// <summary>Names of all zoo models, in a fixed order.</summary>
    public static IReadOnlyList<string> Names { get; } = Factories.Keys.ToArray();

    /// <summary>Looks up a model by name.</summary>
    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones).</exception>
    public static ZooModel Get(string name) =>
        Factories.TryGetValue(name, out var f)
            ? f()
            : throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Names)}");

    /// <summary>LeNet-300-100: 784-300-100-10 fully connected with ReLU (266,610 parameters).</summary>
    public static ZooModel LeNet300100()
    {
        var b = new GraphBuilder("lenet-300-100", 1, 28, 28);
        b.Flatten("flatten");
        b.Linear("fc1", 784, 300); b.ReLU("relu1");
        b.Linear("fc2", 300, 100); b.ReLU("relu2");
        b.Linear("fc3", 100, 10);
        return new ZooModel("lenet-300-100", "784-300-100-10 MLP (Deep Compression, Gaopande)", b.Build(), DatasetKind.Mnist,
            new TrainingDefaults(Epochs: 20, BatchSize: 128, LearningRate: 1e-3, Optimizer: "adam", Schedule: "cosine"));
    }

    /// <summary>
    /// LeNet-5, Caffe variant (431,080 parameters): conv 20@5×5, max-pool 2, conv 50@5×5, max-pool 2, fc 500, fc 10.
    /// Caffe's net has a ReLU only after fc1; this one also has one after each pooling, which changes no parameter
    /// count and trains more reliably.
    /// </summary>
    public static ZooModel LeNet5()
    {
        var b = new GraphBuilder("lenet-5", 1, 28, 28);
        b.Conv2d("conv1", 1, 20, 5); b.MaxPool2d("pool1", 2, 2); b.ReLU("relu1");
        b.Conv2d("conv2", 20, 50, 5); b.MaxPool2d("pool2", 2, 2); b.ReLU("relu2");
        b.Flatten("flatten");
        b.Linear("fc1", 800, 500); b.ReLU("relu3");
        b.Linear("fc2", 500, 10);
        return new ZooModel("lenet-5", "Caffe LeNet-5: conv20-pool-conv50-pool-fc500-fc10", b.Build(), DatasetKind.Mnist,
            new TrainingDefaults(Epochs: 15, BatchSize: 128, LearningRate: 1e-3, Optimizer: "adam", Schedule: "cosine"));
    }

    /// <summary>784-2048-2048-2048-10 with BatchNorm after each hidden layer (the loss-aware quantization MNIST net).</summary>
    public static ZooModel Mlp2048x3Bn()
    {
        var b = new GraphBuilder("mlp-2048x3-bn", 1, 28, 28);
        b.Flatten("flatten");
        int inF = 784;
        for (int i = 1; i <= 3; i++)
        {
            b.Linear($"fc{i}", inF, 2048); b.BatchNorm($"bn{i}", 2048); b.ReLU($"relu{i}");
            inF = 2048;
        }
        b.Linear("fc4", 2048, 10);
        return new ZooModel("mlp-2048x3-bn", "784-2048x3-10 MLP with BatchNorm (Hou's loss-aware quantization)", b.Build(), DatasetKind.Mnist,
            new TrainingDefaults(Epochs: 20, BatchSize: 100, LearningRate: 1e-3, Optimizer: "adam", Schedule: "cosine"));
    }

    /// <summary>
    /// AlexNet for 32×32 inputs: five convolutions (64, 192, 384, 256, 256) with three 3×3/2 max-pools, then
    /// fc 1024, fc 512, fc 10.
    /// </summary>
    public static ZooModel AlexNetCifar()
    {
        var b = new GraphBuilder("alexnet-cifar", 3, 32, 32);
        b.Conv2d("conv1", 3, 64, 5, padding: 2); b.ReLU("relu1"); b.MaxPool2d("pool1", 3, 2);
        b.Conv2d("conv2", 64, 192, 5, padding: 2); b.ReLU("relu2"); b.MaxPool2d("pool2", 3, 2);
        b.Conv2d("conv3", 192, 384, 3, padding: 1); b.ReLU("relu3");
        b.Conv2d("conv4", 384, 256, 3, padding: 1); b.ReLU("relu4");
        b.Conv2d("conv5", 256, 256, 3, padding: 1); b.ReLU("relu5"); b.MaxPool2d("pool5", 3, 2);
        b.Flatten("flatten");
        b.Linear("fc1", 256 * 3 * 3, 1024); b.ReLU("relu6");
        b.Linear("fc2", 1024, 512); b.ReLU("relu7");
        b.Linear("fc3", 512, 10);
        return new ZooModel("alexnet-cifar", "AlexNet for CIFAR-10 (5 conv, 3 fc)", b.Build(), DatasetKind.Cifar10,
            new TrainingDefaults(Epochs: 60, BatchSize: 128, LearningRate: 0.05, Optimizer: "sgd", Schedule: "cosine", WeightDecay: 5e-4));
    }

    /// <summary>VGG-16 with BatchNorm for CIFAR: 13 conv 3×3 (64…512) with BN and ReLU, five max-pools, fc 10.</summary>
    public static ZooModel Vgg16Cifar()
    {
        int[] cfg = { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0 };
        var b = new GraphBuilder("vgg16-cifar", 3, 32, 32);
        int inC = 3, conv = 0, pool = 0;
        foreach (int c in cfg)
        {
            if (c == 0) { b.MaxPool2d($"pool{++pool}", 2, 2); continue; }
            conv++;
            b.Conv2d($"conv{conv}", inC, c, 3, padding: 1, bias: false); b.BatchNorm($"bn{conv}", c); b.ReLU($"relu{conv}");
            inC = c;
        }
        b.Flatten("flatten");
        b.Linear("fc", 512, 10);
        return new ZooModel("vgg16-cifar", "VGG-16 with BatchNorm for CIFAR-10", b.Build(), DatasetKind.Cifar10,
            new TrainingDefaults(Epochs: 160, BatchSize: 128, LearningRate: 0.1, Optimizer: "sgd", Schedule: "cosine", WeightDecay: 5e-4));
    }

    /// <summary>VGG-Small (LQ-Nets' CIFAR net): 2×128, 2×256, 2×512 conv 3×3 with BN and ReLU, three max-pools, fc 10.</summary>
    public static ZooModel VggSmall()
    {
        var b = new GraphBuilder("vgg-small", 3, 32, 32);
        int[] widths = { 128, 128, 256, 256, 512, 512 };
        int inC = 3;
        for (int i = 0; i < widths.Length; i++)
        {
            int k = i + 1;
            b.Conv2d($"conv{k}", inC, widths[i], 3, padding: 1, bias: false);
            if (i % 2 == 1) b.MaxPool2d($"pool{k / 2}", 2, 2);
            b.BatchNorm($"bn{k}", widths[i]); b.ReLU($"relu{k}");
            inC = widths[i];
        }
        b.Flatten("flatten");
        b.Linear("fc", 512 * 4 * 4, 10);
        return new ZooModel("vgg-small", "VGG-Small (LQ-Nets): 6 conv + 1 fc", b.Build(), DatasetKind.Cifar10,
            new TrainingDefaults(Epochs: 200, BatchSize: 128, LearningRate: 0.1, Optimizer: "sgd", Schedule: "cosine", WeightDecay: 5e-4));
    }

    /// <summary>Characters of the embedded corpus (Moby Dick): the vocabulary size of the nominal <c>char-lstm</c> graph.</summary>
    public const int DefaultCorpusVocabulary = 83;

    /// <summary>
    /// Character-level LSTM language model (Hou et al.'s quantized LSTMs): one-hot characters → 1 or 2 LSTM layers with
    /// separate W_ih/W_hh and optional batch/layer/weight normalization of both products → Linear decoder. The graph here
    /// is the default shape (1 layer, hidden 256, no normalization, the embedded corpus's 83 characters); training builds
    /// the graph from <c>--hidden</c>, <c>--layers</c>, <c>--norm</c> and the corpus (<see cref="CharLstmConfig"/>).
    /// Defaults: 64 streams (batch size), Adam, lr 2e-3, cosine, 10 epochs.
    /// </summary>
    public static ZooModel CharLstmDefault() =>
        new("char-lstm", "character LSTM language model (one-hot in, 1-2 LSTM layers with W_ih/W_hh normalization, linear decoder)",
            new CharLstmConfig(DefaultCorpusVocabulary, 256, 1, LstmNormalization.None).Graph(), DatasetKind.Text,
            new TrainingDefaults(Epochs: 10, BatchSize: 64, LearningRate: 2e-3, Optimizer: "adam", Schedule: "cosine"));

    /// <summary>
    /// ResNet-20 for CIFAR (He et al. 2016): conv 16, three stages of three basic blocks (16, 32, 64 channels),
    /// global average pool, fc 10. Where the shape changes the shortcut is a 1×1 convolution with BatchNorm
    /// (option B), since a graph of plain operations cannot express option A's channel padding.
    /// </summary>
    public static ZooModel ResNet20()
    {
        var b = new GraphBuilder("resnet20", 3, 32, 32);
        b.Conv2d("conv1", 3, 16, 3, padding: 1, bias: false); b.BatchNorm("bn1", 16);
        int x = b.ReLU("relu1");
        int inC = 16;
        int[] widths = { 16, 32, 64 };
        for (int s = 0; s < 3; s++)
        {
            for (int blk = 0; blk < 3; blk++)
            {
                int stride = s > 0 && blk == 0 ? 2 : 1;
                int c = widths[s];
                string p = $"layer{s + 1}_{blk}";
                b.Conv2d($"{p}_conv1", inC, c, 3, stride, 1, bias: false, input: x); b.BatchNorm($"{p}_bn1", c); b.ReLU($"{p}_relu1");
                b.Conv2d($"{p}_conv2", c, c, 3, 1, 1, bias: false); int main = b.BatchNorm($"{p}_bn2", c);
                int shortcut = x;
                if (stride != 1 || inC != c)
                {
                    b.Conv2d($"{p}_down", inC, c, 1, stride, 0, bias: false, input: x);
                    shortcut = b.BatchNorm($"{p}_down_bn", c);
                }
                b.AddNodes($"{p}_add", main, shortcut);
                x = b.ReLU($"{p}_relu2");
                inC = c;
            }
        }
        b.GlobalAvgPool("pool");
        b.Linear("fc", 64, 10);
        return new ZooModel("resnet20", "ResNet-20 for CIFAR-10 (option-B shortcuts)", b.Build(), DatasetKind.Cifar10,
            new TrainingDefaults(Epochs: 160, BatchSize: 128, LearningRate: 0.1, Optimizer: "sgd", Schedule: "cosine", WeightDecay: 1e-4));
    }
}
