namespace SlimNet.Format.Tests;

public class RoundTripTests
{
    [Fact]
    public void AllEncodingsRoundTrip()
    {
        var model = TestModels.AllEncodings(1);
        byte[] bytes = SlimWriter.ToBytes(model);
        var back = SlimReader.Read(bytes);
        Assert.Equal(model.Tensors.Count, back.Tensors.Count);
        for (int i = 0; i < model.Tensors.Count; i++)
            Assert.Equal(model.Tensors[i].ToDense(), back.Tensors[i].ToDense());
        Assert.Equal(bytes, SlimWriter.ToBytes(back));
    }
}
