namespace SlimNet.Distributed;

/// <summary>
/// An MPI call failed (its return code was not MPI_SUCCESS) or Open MPI could not be loaded. The message names
/// the call and carries Open MPI's own error text.
/// </summary>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception for a failed call.</summary>
    public MpiException(string message, int errorCode = 0) : base(message) => ErrorCode = errorCode;

    /// <summary>Creates the exception with an inner cause (e.g. the library could not be loaded).</summary>
    public MpiException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The MPI error code returned by the call (0 when the failure was not an MPI return code).</summary>
    public int ErrorCode { get; }
}
