using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// The operations the generic kernels need from one vector width. Kernels are written once over
/// <typeparamref name="TVec"/> and the JIT specializes them per width, so there is no per-call dispatch.
/// </summary>
internal unsafe interface IVectorOps<TVec> where TVec : struct
{
    static abstract int Count { get; }
    static abstract TVec Zero { get; }
    static abstract TVec Load(float* p);
    static abstract void Store(TVec v, float* p);
    static abstract TVec Broadcast(float v);
    /// <summary>a·b + c, fused where the hardware can.</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);
    static abstract TVec Multiply(TVec a, TVec b);
    static abstract TVec Add(TVec a, TVec b);
    static abstract float Sum(TVec v);
    /// <summary>A mask that keeps the last <paramref name="keep"/> lanes (used for overlapping tail loads).</summary>
    static abstract TVec TailMask(int keep);
    static abstract TVec And(TVec v, TVec mask);
    /// <summary>table[indices[0..Count)]; indices must be in range (callers validate).</summary>
    static abstract TVec Gather(float* table, int* indices);
    static abstract TVec LoadWeights<TW>(in TW weights, nint k) where TW : struct, IWeightValues;
}

internal unsafe struct Vector512Ops : IVectorOps<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float v) => Vector512.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> TailMask(int keep) =>
        Vector512.GreaterThanOrEqual(Vector512<float>.Indices, Vector512.Create((float)(Count - keep)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> And(Vector512<float> v, Vector512<float> mask) => v & mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    // .NET exposes no 512-bit gather, so two 256-bit AVX2 gathers make one vector.
    public static Vector512<float> Gather(float* table, int* indices) =>
        Vector512.Create(Avx2.GatherVector256(table, Vector256.Load(indices), 4), Avx2.GatherVector256(table, Vector256.Load(indices + 8), 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadWeights<TW>(in TW weights, nint k) where TW : struct, IWeightValues => weights.Load512(k);
}

internal unsafe struct Vector256Ops : IVectorOps<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float v) => Vector256.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> TailMask(int keep) =>
        Vector256.GreaterThanOrEqual(Vector256<float>.Indices, Vector256.Create((float)(Count - keep)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> And(Vector256<float> v, Vector256<float> mask) => v & mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Gather(float* table, int* indices) => Avx2.GatherVector256(table, Vector256.Load(indices), 4);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadWeights<TW>(in TW weights, nint k) where TW : struct, IWeightValues => weights.Load256(k);
}

internal unsafe struct Vector128Ops : IVectorOps<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float v) => Vector128.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> TailMask(int keep) =>
        Vector128.GreaterThanOrEqual(Vector128<float>.Indices, Vector128.Create((float)(Count - keep)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> And(Vector128<float> v, Vector128<float> mask) => v & mask;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Gather(float* table, int* indices) =>
        Avx2.IsSupported
            ? Avx2.GatherVector128(table, Vector128.Load(indices), 4)
            : Vector128.Create(table[indices[0]], table[indices[1]], table[indices[2]], table[indices[3]]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadWeights<TW>(in TW weights, nint k) where TW : struct, IWeightValues => weights.Load128(k);
}
