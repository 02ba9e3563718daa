using System.Numerics;
using SafeCkpt.Transforms;

namespace SafeCkpt.Formats.Torch;

/// <summary>
/// Decides the pickle tree a <c>.ckpt</c>/<c>.pt</c> output gets. A PyTorch source keeps its own tree: the planned
/// tensors go back into their slots (renamed in place when the rename keeps the dict they sat in, else added to the
/// state dict), dropped tensors leave it, and values <c>torch.load(weights_only=True)</c> cannot load are left out
/// with a note. A safetensors source gets <c>{"state_dict": ...}</c> when it is a full checkpoint (what A1111
/// expects), else a top-level OrderedDict of its tensors (VAE-approx, TAESD, LoRA, SDXL embeddings).
/// </summary>
internal static class CkptLayout
{
    /// <summary>The most notes about left-out values listed one by one; the rest are counted.</summary>
    private const int MaxValueNotes = 10;

    /// <summary>Names of an LDM/SGM checkpoint's components: such a file is wrapped in <c>state_dict</c>.</summary>
    private static readonly string[] CheckpointPrefixes = ["model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "conditioner.", "model_ema."];

    /// <summary>The tree to write; notes about what was left out or changed go to <paramref name="plan"/>.</summary>
    public static LayoutNode For(TensorPlan plan)
    {
        if (plan.SourceLayout is { } source)
        {
            var state = new State(plan);
            LayoutNode? root = state.Emit(source.Root, path: string.Empty, source.Home);
            List<PlannedTensor> homeless = state.Unplaced();
            if (root is not null && (homeless.Count == 0 || state.HomeDict is not null))
            {
                foreach (PlannedTensor t in homeless)
                {
                    state.HomeDict!.Add(t.Name, new TensorSlot(t.Name));
                }

                state.Finish();
                return root;
            }

            plan.Notes.Add($"layout: the source's top level is {Describe(source.Root)}, with no dict to hold new or renamed tensors; writing a dict of tensors instead.");
        }

        return Default(plan.Tensors);
    }

    /// <summary>The layout of a file without one: <c>{"state_dict": {...}}</c> for a full checkpoint, else an OrderedDict of the tensors.</summary>
    public static LayoutNode Default(IReadOnlyList<PlannedTensor> tensors)
    {
        bool checkpoint = tensors.Any(t => CheckpointPrefixes.Any(p => t.Name.StartsWith(p, StringComparison.Ordinal)));
        var dict = new DictNode(ordered: !checkpoint, wasParameterDict: false);
        foreach (PlannedTensor t in tensors)
        {
            dict.Add(t.Name, new TensorSlot(t.Name));
        }

        return checkpoint ? StateDictWrapper(dict) : dict;
    }

    /// <summary><c>{"state_dict": dict}</c>, as A1111 and the LDM scripts save checkpoints.</summary>
    public static DictNode StateDictWrapper(DictNode stateDict) => new DictNode(ordered: false, wasParameterDict: false).Add("state_dict", stateDict);

    private static string Describe(LayoutNode n) => n switch
    {
        SequenceNode { IsTuple: true } => "a tuple",
        SequenceNode => "a list",
        TensorSlot => "a tensor",
        DictNode => "a dict",
        _ => "a value",
    };

    /// <summary>One walk over the source tree, building the output tree.</summary>
    private sealed class State
    {
        private readonly TensorPlan _plan;
        private readonly Dictionary<string, PlannedTensor> _bySlot = new(StringComparer.Ordinal);
        private readonly HashSet<string> _placed = new(StringComparer.Ordinal);
        private int _valueNotes;
        private int _moreValues;

        public State(TensorPlan plan)
        {
            _plan = plan;
            foreach (PlannedTensor t in plan.Tensors)
            {
                if (t.Slot is { } slot)
                {
                    _bySlot.TryAdd(slot, t);
                }
            }
        }

        /// <summary>Planned tensors the tree did not place (added by a transform, or renamed out of their dict or list), in plan order.</summary>
        public List<PlannedTensor> Unplaced() => _plan.Tensors.Where(t => t.Slot is null || !_placed.Contains(t.Slot)).ToList();

        /// <summary>The output's state dict (or top-level dict) that names are relative to; null when it is not a dict.</summary>
        public DictNode? HomeDict { get; private set; }

        /// <summary>Collects the tensors no slot took; called once the tree is built.</summary>
        public void Finish()
        {
            if (_moreValues > 0)
            {
                _plan.Notes.Add($"layout: {_moreValues} more values not written (see above).");
            }
        }

        /// <summary>
        /// The output node for <paramref name="n"/>, or null to leave it out; <paramref name="path"/> is the display path.
        /// </summary>
        public LayoutNode? Emit(LayoutNode n, string path, LayoutNode? sourceHome)
        {
            LayoutNode? result = EmitInner(n, path, sourceHome);
            if (ReferenceEquals(n, sourceHome) && result is DictNode d)
            {
                HomeDict = d;
            }

            return result;
        }

        private LayoutNode? EmitInner(LayoutNode n, string path, LayoutNode? sourceHome)
        {
            switch (n)
            {
                case TensorSlot s:
                    return _bySlot.TryGetValue(s.Name, out PlannedTensor? t) && t.Name == s.Name && _placed.Add(s.Name) ? new TensorSlot(t.Name) : null;
                case ScalarValue v:
                    return Expressible(v, path) ? v : null;
                case OpaqueValue o:
                    LeaveOut(path, o.What);
                    return null;
                case SequenceNode q:
                {
                    var items = new List<LayoutNode>(q.Items.Count);
                    for (int i = 0; i < q.Items.Count; i++)
                    {
                        if (Emit(q.Items[i], Join(path, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), sourceHome) is { } x)
                        {
                            items.Add(x);
                        }
                    }

                    return new SequenceNode(q.IsTuple, items);
                }

                case DictNode d:
                {
                    var output = new DictNode(d.Ordered, wasParameterDict: false);
                    if (d.WasParameterDict)
                    {
                        _plan.Notes.Add($"layout: '{path}' was a torch.nn.ParameterDict; written as a dict of its parameters (torch.load(weights_only=True) refuses the class; A1111 and ComfyUI read either).");
                    }

                    foreach ((LayoutNode key, LayoutNode value) in d.Items)
                    {
                        string keyText = KeyText(key);
                        string itemPath = Join(path, keyText);
                        if (key is not ScalarValue && !(key is SequenceNode { IsTuple: true } kt && kt.Items.All(x => x is ScalarValue)))
                        {
                            LeaveOut(itemPath, $"its key is {((key as OpaqueValue)?.What ?? "not a plain value")}");
                            continue;
                        }

                        if (!(key is ScalarValue kv ? Expressible(kv, itemPath + " (key)") : ((SequenceNode)key).Items.All(x => Expressible((ScalarValue)x, itemPath + " (key)"))))
                        {
                            continue;
                        }

                        if (HoldsTensorOutside(value))
                        {
                            LeaveOut(itemPath, "it holds tensors outside the state dict, which are not converted");
                            continue;
                        }

                        if (value is TensorSlot slot)
                        {
                            // A renamed tensor stays in its dict when only the key part of its name changed.
                            if (_bySlot.TryGetValue(slot.Name, out PlannedTensor? renamed) && renamed.Name != slot.Name && key is ScalarValue { Value: string k }
                                && slot.Name.EndsWith(k, StringComparison.Ordinal) && renamed.Name.StartsWith(slot.Name[..^k.Length], StringComparison.Ordinal) && _placed.Add(slot.Name))
                            {
                                output.Add(renamed.Name[(slot.Name.Length - k.Length)..], new TensorSlot(renamed.Name));
                                continue;
                            }
                        }

                        if (Emit(value, itemPath, sourceHome) is { } x)
                        {
                            output.Items.Add((key, x));
                        }
                    }

                    if (d.Attributes is { } attributes && d.Ordered && EmitInner(attributes, Join(path, "__dict__"), sourceHome) is DictNode a)
                    {
                        output.Attributes = a;
                    }

                    return output;
                }

                default:
                    return null;
            }
        }

        private static bool HoldsTensorOutside(LayoutNode n) => n switch
        {
            OpaqueValue o => o.IsTensor,
            DictNode d => d.Items.Any(kv => HoldsTensorOutside(kv.Value)),
            SequenceNode s => s.Items.Any(HoldsTensorOutside),
            _ => false,
        };

        /// <summary>Whether the writer can emit a value so that weights_only loads it; else a note.</summary>
        private bool Expressible(ScalarValue v, string path)
        {
            switch (v.Value)
            {
                case null or bool or long or BigInteger or string:
                    return true;
                case double d:
                    LeaveOut(path, $"the float {d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} (torch 1.13's weights_only loader has no BINFLOAT)");
                    return false;
                case byte[] b:
                    LeaveOut(path, $"{b.Length} bytes (protocol 2 writes bytes through _codecs.encode, which weights_only refuses)");
                    return false;
                default:
                    LeaveOut(path, "a value of an unknown kind");
                    return false;
            }
        }

        private void LeaveOut(string path, string what)
        {
            if (_valueNotes++ < MaxValueNotes)
            {
                _plan.Notes.Add($"layout: '{(path.Length == 0 ? "(top level)" : path)}' not written: {what}.");
            }
            else
            {
                _moreValues++;
            }
        }

        private static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

        private static string KeyText(LayoutNode key) => key switch
        {
            ScalarValue { Value: string s } => s,
            ScalarValue { Value: var v } => CheckpointContent.Render(v),
            OpaqueValue o => o.What,
            SequenceNode q => "(" + string.Join(", ", q.Items.Select(KeyText)) + ")",
            _ => "?",
        };
    }
}
