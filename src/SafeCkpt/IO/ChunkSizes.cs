namespace SafeCkpt.IO;

/// <summary>
/// The sizes that bound what SafeCkpt reads at once and holds in memory while it streams tensors, in one place.
/// </summary>
internal static class ChunkSizes
{
    /// <summary>
    /// Bytes per chunk of the streaming loop (<see cref="TensorStreamer"/>: each chunk is one read, and cast, of the
    /// input and one write), and the largest single read a strided view makes of its storage. A cast source reads the
    /// range it is asked for, so its input buffer is the chunk's elements at the source width.
    /// </summary>
    public const int Stream = 8 << 20;

    /// <summary>
    /// The memory one strided view reads with, one pooled buffer all views take turns with. A view whose storage extent
    /// fits is gathered from one copy of that extent; a larger one is made in output blocks of half of it, the other half
    /// staging the storage each block needs. Small because fresh pages cost more than reading the page cache again
    /// (measured on the 2-core benchmark VM: 4.4 ms per MiB first touched, 0.2 ms per MiB re-read).
    /// </summary>
    public const int ViewWindow = 32 << 20;

    /// <summary>Runs of a strided view at least this long are read straight from the storage, one read each, without a window.</summary>
    public const int ViewDirectRun = 64 << 10;

    /// <summary>
    /// The shortest storage line a blocked view reads on its own (the columns of a transpose one block needs); shorter
    /// lines are read with the gaps between them.
    /// </summary>
    public const int ViewMinRead = 4 << 10;

    /// <summary>
    /// Buffers of views read part-way (a cancelled save, two tensors compared chunk by chunk) kept for their next read,
    /// in total; beyond it the oldest idle ones are let go, so abandoned views never pile up.
    /// </summary>
    public const long ViewBuffersHeld = 4L * ViewWindow;
}
