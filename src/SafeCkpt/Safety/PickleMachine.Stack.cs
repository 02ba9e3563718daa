using static SafeCkpt.Safety.PickleOpcodes;

namespace SafeCkpt.Safety;

// The machine's stack, MARKs and memo.
internal sealed partial class PickleMachine
{
    private void Push(object? v)
    {
        if (_stack.Count >= _limits.MaxStackDepth)
        {
            throw Limit($"more than {_limits.MaxStackDepth:N0} values on the stack");
        }

        _stack.Add(v);
    }

    private object? Pop1()
    {
        int n = _stack.Count;
        if (n == 0 || ReferenceEquals(_stack[n - 1], MarkObject))
        {
            throw Invalid(_opStart, $"{Name(_op)} needs a value but the stack is empty (or only a MARK is left)");
        }

        object? v = _stack[n - 1];
        _stack.RemoveAt(n - 1);
        return v;
    }

    private object? Peek()
    {
        if (_stack.Count == 0 || ReferenceEquals(_stack[^1], MarkObject))
        {
            throw Invalid(_opStart, $"{Name(_op)} needs a value but the stack is empty (or only a MARK is left)");
        }

        return _stack[^1];
    }

    private object?[] PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} without a MARK before it");
        }

        int at = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        object?[] items = _stack.GetRange(at + 1, _stack.Count - at - 1).ToArray();
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    private void MemoPut(long index)
    {
        if (index < 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} with the negative memo index {index}");
        }

        if (!_memo.ContainsKey(index) && _memo.Count >= _limits.MaxMemoEntries)
        {
            throw Limit($"more than {_limits.MaxMemoEntries:N0} memo entries");
        }

        _memo[index] = Peek();
    }

    private void MemoGet(long index)
    {
        if (!_memo.TryGetValue(index, out object? v))
        {
            throw Invalid(_opStart, $"{Name(_op)} {index} reads a memo entry that was never stored");
        }

        Push(v);
    }
}
