using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// The widest vector path a kernel may take. Every kernel has a scalar path (the reference) and vector
/// paths that must agree with it; tests force each level that the machine supports.
/// </summary>
internal enum SimdLevel
{
    Scalar = 0,
    Vector128 = 128,
    Vector256 = 256,
    Vector512 = 512,
}

/// <summary>Which <see cref="SimdLevel"/>s this process can run.</summary>
internal static class SimdSupport
{
    // The 512- and 256-bit paths use x86 gathers and widening loads, so they also need AVX-512F / AVX2;
    // on other architectures only the portable 128-bit path and the scalar path run.
    public static bool Has512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    public static bool Has256 => Vector256.IsHardwareAccelerated && Avx2.IsSupported;
    public static bool Has128 => Vector128.IsHardwareAccelerated;

    public static SimdLevel Best =>
        Has512 ? SimdLevel.Vector512 : Has256 ? SimdLevel.Vector256 : Has128 ? SimdLevel.Vector128 : SimdLevel.Scalar;

    public static bool IsSupported(SimdLevel level) => level switch
    {
        SimdLevel.Vector512 => Has512,
        SimdLevel.Vector256 => Has256,
        SimdLevel.Vector128 => Has128,
        _ => true,
    };

    /// <summary>All levels this machine can run, scalar first.</summary>
    public static IReadOnlyList<SimdLevel> Supported { get; } =
        new[] { SimdLevel.Scalar, SimdLevel.Vector128, SimdLevel.Vector256, SimdLevel.Vector512 }.Where(IsSupported).ToArray();
}
