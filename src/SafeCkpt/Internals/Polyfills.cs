#if !NET9_0_OR_GREATER
namespace System.Threading;

/// <summary>
/// .NET 8 stand-in for .NET 9's <c>System.Threading.Lock</c>, over <see cref="Monitor"/> on a private object, with the members
/// the library uses. The compiler turns <c>lock (gate)</c> on a type of this name into <see cref="EnterScope"/>.
/// </summary>
internal sealed class Lock
{
    private readonly object _monitor = new();

    public bool IsHeldByCurrentThread => Monitor.IsEntered(_monitor);

    public void Enter() => Monitor.Enter(_monitor);

    public bool TryEnter() => Monitor.TryEnter(_monitor);

    public bool TryEnter(int millisecondsTimeout) => Monitor.TryEnter(_monitor, millisecondsTimeout);

    public void Exit() => Monitor.Exit(_monitor);

    public Scope EnterScope()
    {
        Monitor.Enter(_monitor);
        return new Scope(this);
    }

    /// <summary>Held until disposed, as <c>lock</c> does.</summary>
    public readonly ref struct Scope
    {
        private readonly Lock _owner;

        internal Scope(Lock owner) => _owner = owner;

        public void Dispose() => _owner.Exit();
    }
}
#endif
