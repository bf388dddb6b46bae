using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SlimNet.Runtime.Planning;

/// <summary>
/// An array on the pinned object heap with its address. The plan keeps raw pointers into these for the
/// whole session, so <see cref="InferenceSession.Run(ReadOnlySpan{float}, int, Span{float})"/> needs neither <c>fixed</c> nor any allocation.
/// </summary>
internal sealed unsafe class PinnedBuffer<T> where T : unmanaged
{
    private readonly T[] _array;

    public PinnedBuffer(int length)
    {
        _array = GC.AllocateArray<T>(Math.Max(length, 1), pinned: true);
        Length = length;
        Pointer = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
    }

    public PinnedBuffer(ReadOnlySpan<T> source) : this(source.Length) => source.CopyTo(_array);

    public T* Pointer { get; }
    public int Length { get; }
    public Span<T> Span => _array.AsSpan(0, Length);
}
