using System.Runtime.InteropServices;

namespace SafeCkpt.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM become a cancellation the library's saves and hashing observe: the temporary output is
/// deleted, nothing partial is left, and the tool exits 130 (SIGINT) or 143 (SIGTERM) as shells expect. A second
/// signal terminates the process at once, for a step that does not observe cancellation.
/// </summary>
internal static class Interrupt
{
    private static readonly CancellationTokenSource Source = new();
    private static PosixSignalRegistration? _int;
    private static PosixSignalRegistration? _term;
    private static int _signal;

    /// <summary>Cancelled when a signal arrives.</summary>
    public static CancellationToken Token => Source.Token;

    /// <summary>The exit code for the signal that arrived (130 or 143), or null.</summary>
    public static int? ExitCode => Volatile.Read(ref _signal) switch { 0 => null, var s => 128 + s };

    /// <summary>Starts turning SIGINT and SIGTERM into cancellation.</summary>
    public static void Hook()
    {
        _int ??= PosixSignalRegistration.Create(PosixSignal.SIGINT, On);
        _term ??= PosixSignalRegistration.Create(PosixSignal.SIGTERM, On);
    }

    private static void On(PosixSignalContext context)
    {
        // The first signal cancels; a second one gets the default action (the process ends).
        if (Interlocked.CompareExchange(ref _signal, context.Signal == PosixSignal.SIGINT ? 2 : 15, 0) != 0)
        {
            return;
        }

        context.Cancel = true;
        Source.Cancel();
    }
}
