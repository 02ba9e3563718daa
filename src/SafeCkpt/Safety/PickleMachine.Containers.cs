using static SafeCkpt.Safety.PickleOpcodes;

namespace SafeCkpt.Safety;

// Containers: counted (memory) and depth-tracked (later walks stay shallow); the targets of APPEND, SETITEM and their batches.
internal sealed partial class PickleMachine
{
    internal T NewContainer<T>(T container)
    {
        if (++_containers > _limits.MaxContainers)
        {
            throw Limit($"more than {_limits.MaxContainers:N0} containers");
        }

        return container;
    }

    internal void CountTensor()
    {
        if (++_tensors > _limits.MaxTensors)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.ResourceLimitExceeded, _source.FilePath, $"{_source.FilePath}: refused: {_source.RecordName} describes more than {_limits.MaxTensors:N0} tensors (at byte {_opStart}). Real checkpoints hold a few thousand; this file is crafted or not a model.")
            {
                Offset = _opStart,
                TensorName = _source.RecordName,
            };
        }
    }

    private static int DepthOf(object? v) => v switch
    {
        PyList l => l.Depth,
        PyDict d => d.Depth,
        PyTuple t => t.Depth,
        PySet s => s.Depth,
        _ => -1,
    };

    private void Deepen(object container, object? child)
    {
        int depth = DepthOf(child) + 1;
        if (depth <= DepthOf(container))
        {
            return;
        }

        if (depth > _limits.MaxNesting)
        {
            throw Limit($"containers nested more than {_limits.MaxNesting:N0} deep");
        }

        switch (container)
        {
            case PyList l:
                l.Depth = depth;
                break;
            case PyDict d:
                d.Depth = depth;
                break;
            case PyTuple t:
                t.Depth = depth;
                break;
        }
    }

    private PyTuple Nest(PyTuple t)
    {
        NewContainer(t);
        foreach (object? item in t.Items)
        {
            Deepen(t, item);
        }

        return t;
    }

    private void SetItemsFrom(object?[] items)
    {
        if (items.Length % 2 != 0)
        {
            throw Invalid(_opStart, $"{Name(_op)} has an odd number of values (a key without a value)");
        }

        PyDict dict = DictTarget();
        for (int i = 0; i < items.Length; i += 2)
        {
            dict.Set(Hashable(items[i]), items[i + 1]);
            Deepen(dict, items[i + 1]);
        }
    }

    // torch.load would call the target's append/__setitem__ (on a tensor that writes its data, CVE-2026-24747): nothing
    // foreign runs, but the result differs from what SafeCkpt would build, so anything but a list/dict is refused.
    private PyList ListTarget() => Peek() as PyList
        ?? throw Unsupported($"{Name(_op)} into a {TypeName(Peek())} (only lists are appended to)");

    private PyDict DictTarget() => Peek() as PyDict
        ?? throw Unsupported($"{Name(_op)} into a {TypeName(Peek())} (only dicts take items; on a tensor it would write its data, CVE-2026-24747)");

    private object Hashable(object? key) => key is not null && PyKeyComparer.IsHashable(key)
        ? key
        : key is null ? throw Unsupported($"{Name(_op)} with None as a dict key or set item")
        : throw Invalid(_opStart, $"{Name(_op)} with an unhashable {TypeName(key)} as a dict key or set item");
}
