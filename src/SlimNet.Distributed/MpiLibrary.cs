using System.Runtime.InteropServices;

namespace SlimNet.Distributed;

/// <summary>
/// The entry points and predefined handles of Open MPI's C library (libmpi.so.40, Open MPI 4.x), resolved once
/// with <see cref="NativeLibrary"/>. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are the
/// addresses of exported globals (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>, <c>ompi_mpi_op_sum</c>, …),
/// so a handle is the address <see cref="NativeLibrary.GetExport"/> returns for that name. MPI_IN_PLACE is
/// <c>(void*)1</c>. Other MPI implementations (MPICH's integer handles) are not supported.
/// </summary>
internal static unsafe class MpiLibrary
{
    /// <summary>The library file name of Open MPI 4.x.</summary>
    public const string FileName = "libmpi.so.40";

    /// <summary>MPI_SUCCESS.</summary>
    public const int Success = 0;
    /// <summary>MPI_THREAD_SERIALIZED: any thread may call MPI, one at a time.</summary>
    public const int ThreadSerialized = 2;
    /// <summary>MPI_MAX_ERROR_STRING of Open MPI.</summary>
    public const int MaxErrorString = 256;
    /// <summary>MPI_IN_PLACE of Open MPI.</summary>
    public static readonly IntPtr InPlace = 1;

    private static readonly Lazy<Api> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The resolved API; loads the library on first use.</summary>
    /// <exception cref="MpiException">Open MPI is not installed or is not version 4.x.</exception>
    public static Api Get() => Loaded.Value;

    /// <summary>Function pointers and handles of the loaded library.</summary>
    public sealed class Api
    {
        public IntPtr Library;
        public IntPtr CommWorld, Byte, Float, Double, OpSum, ErrorsReturn;
        public delegate* unmanaged<int*, IntPtr, int, int*, int> InitThread;
        public delegate* unmanaged<int*, int> Initialized;
        public delegate* unmanaged<int*, int> Finalized;
        public delegate* unmanaged<int> Finalize;
        public delegate* unmanaged<IntPtr, int*, int> CommRank;
        public delegate* unmanaged<IntPtr, int*, int> CommSize;
        public delegate* unmanaged<IntPtr, IntPtr, int> CommSetErrhandler;
        public delegate* unmanaged<IntPtr, int> Barrier;
        public delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int> Bcast;
        public delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int> Allreduce;
        public delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int> Allgather;
        public delegate* unmanaged<void*, int, IntPtr, void*, int*, int*, IntPtr, IntPtr, int> Allgatherv;
        public delegate* unmanaged<int, byte*, int*, int> ErrorString;
        public delegate* unmanaged<IntPtr, int, int> Abort;
    }

    private static Api Load()
    {
        IntPtr lib;
        try
        {
            lib = NativeLibrary.Load(FileName);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new MpiException($"Open MPI is not available: cannot load {FileName} ({e.Message.Split('\n')[0].Trim()}); " +
                                   "install openmpi-bin and libopenmpi-dev (scripts/setup.sh does) and start the ranks with mpirun", e);
        }
        IntPtr Sym(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new MpiException($"{FileName} has no symbol '{name}': SlimNet's binding needs Open MPI 4.x");
        return new Api
        {
            Library = lib,
            CommWorld = Sym("ompi_mpi_comm_world"),
            Byte = Sym("ompi_mpi_byte"),
            Float = Sym("ompi_mpi_float"),
            Double = Sym("ompi_mpi_double"),
            OpSum = Sym("ompi_mpi_op_sum"),
            ErrorsReturn = Sym("ompi_mpi_errors_return"),
            InitThread = (delegate* unmanaged<int*, IntPtr, int, int*, int>)Sym("MPI_Init_thread"),
            Initialized = (delegate* unmanaged<int*, int>)Sym("MPI_Initialized"),
            Finalized = (delegate* unmanaged<int*, int>)Sym("MPI_Finalized"),
            Finalize = (delegate* unmanaged<int>)Sym("MPI_Finalize"),
            CommRank = (delegate* unmanaged<IntPtr, int*, int>)Sym("MPI_Comm_rank"),
            CommSize = (delegate* unmanaged<IntPtr, int*, int>)Sym("MPI_Comm_size"),
            CommSetErrhandler = (delegate* unmanaged<IntPtr, IntPtr, int>)Sym("MPI_Comm_set_errhandler"),
            Barrier = (delegate* unmanaged<IntPtr, int>)Sym("MPI_Barrier"),
            Bcast = (delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int>)Sym("MPI_Bcast"),
            Allreduce = (delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int>)Sym("MPI_Allreduce"),
            Allgather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int>)Sym("MPI_Allgather"),
            Allgatherv = (delegate* unmanaged<void*, int, IntPtr, void*, int*, int*, IntPtr, IntPtr, int>)Sym("MPI_Allgatherv"),
            ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Sym("MPI_Error_string"),
            Abort = (delegate* unmanaged<IntPtr, int, int>)Sym("MPI_Abort"),
        };
    }

    /// <summary>Throws <see cref="MpiException"/> naming <paramref name="call"/> when <paramref name="code"/> is not MPI_SUCCESS.</summary>
    public static void Check(int code, string call)
    {
        if (code == Success) return;
        throw new MpiException($"{call} failed: {ErrorText(code)} (MPI error {code})", code);
    }

    private static string ErrorText(int code)
    {
        var api = Get();
        byte* text = stackalloc byte[MaxErrorString + 1];
        int length = 0;
        if (api.ErrorString(code, text, &length) != Success || length <= 0) return "unknown error";
        return System.Text.Encoding.ASCII.GetString(text, Math.Min(length, MaxErrorString));
    }
}
