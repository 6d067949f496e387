namespace CudnnRnn.Training;

/// <summary>
/// A string ↔ id map. Ids 0 and 1 are reserved for padding and unknown items when the vocabulary has specials
/// (words, characters); a tag set has none.
/// </summary>
public sealed class Vocabulary
{
    /// <summary>Id of the padding item (vocabularies with specials).</summary>
    public const int PaddingId = 0;
    /// <summary>Id of the unknown item (vocabularies with specials).</summary>
    public const int UnknownId = 1;
    /// <summary>Text of the padding item.</summary>
    public const string PaddingToken = "<pad>";
    /// <summary>Text of the unknown item.</summary>
    public const string UnknownToken = "<unk>";

    private readonly string[] _items;
    private readonly Dictionary<string, int> _ids;
    private readonly int[] _counts;

    /// <summary>Creates a vocabulary from its items in id order (including the specials when <paramref name="hasSpecials"/>).</summary>
    public Vocabulary(IReadOnlyList<string> items, bool hasSpecials, IReadOnlyList<int>? counts = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (hasSpecials && (items.Count < 2 || items[PaddingId] != PaddingToken || items[UnknownId] != UnknownToken))
            throw new ArgumentException($"A vocabulary with specials must start with {PaddingToken} and {UnknownToken}.", nameof(items));
        _items = items.ToArray();
        _ids = new Dictionary<string, int>(_items.Length, StringComparer.Ordinal);
        for (int i = 0; i < _items.Length; i++)
            if (!_ids.TryAdd(_items[i], i)) throw new ArgumentException($"Duplicate vocabulary item '{_items[i]}'.", nameof(items));
        HasSpecials = hasSpecials;
        _counts = counts?.ToArray() ?? new int[_items.Length];
        if (_counts.Length != _items.Length) throw new ArgumentException("One count per item expected.", nameof(counts));
    }

    /// <summary>True when ids 0/1 are padding/unknown.</summary>
    public bool HasSpecials { get; }
    /// <summary>Number of ids.</summary>
    public int Count => _items.Length;
    /// <summary>Items in id order.</summary>
    public IReadOnlyList<string> Items => _items;
    /// <summary>The item of an id.</summary>
    public string this[int id] => _items[id];
    /// <summary>Training frequency of an id (0 when unknown, e.g. after loading a model).</summary>
    public int CountOf(int id) => _counts[id];

    /// <summary>The id of <paramref name="item"/>: <see cref="UnknownId"/> (with specials) or −1 (without) when absent.</summary>
    public int IdOf(string item) => _ids.TryGetValue(item, out int id) ? id : HasSpecials ? UnknownId : -1;

    /// <summary>True when the item is in the vocabulary.</summary>
    public bool Contains(string item) => _ids.ContainsKey(item);

    /// <summary>
    /// Builds a vocabulary from items with their frequencies: items seen at least <paramref name="minFrequency"/> times,
    /// most frequent first (ties in ordinal order, so the result is deterministic).
    /// </summary>
    public static Vocabulary Build(IEnumerable<string> items, int minFrequency = 1, bool hasSpecials = true)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in items) counts[s] = counts.GetValueOrDefault(s) + 1;
        var kept = counts.Where(kv => kv.Value >= minFrequency)
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var list = new List<string>();
        var cnt = new List<int>();
        if (hasSpecials) { list.Add(PaddingToken); list.Add(UnknownToken); cnt.Add(0); cnt.Add(0); }
        foreach (var kv in kept)
        {
            if (hasSpecials && (kv.Key == PaddingToken || kv.Key == UnknownToken)) continue;
            list.Add(kv.Key);
            cnt.Add(kv.Value);
        }
        return new Vocabulary(list, hasSpecials, cnt);
    }
}

/// <summary>Word normalisation and word-shape features.</summary>
public static class WordFeatures
{
    /// <summary>Number of word-shape classes.</summary>
    public const int ShapeCount = 8;

    /// <summary>The word as the embedding sees it: optionally lowercased, digits optionally mapped to '0'.</summary>
    public static string Normalize(string word, bool lowercase, bool normalizeDigits)
    {
        if (!lowercase && !normalizeDigits) return word;
        bool change = false;
        foreach (char c in word)
            if ((lowercase && char.IsUpper(c)) || (normalizeDigits && c is >= '1' and <= '9')) { change = true; break; }
        if (!change) return word;
        return string.Create(word.Length, (word, lowercase, normalizeDigits), static (dst, s) =>
        {
            for (int i = 0; i < dst.Length; i++)
            {
                char c = s.word[i];
                if (s.lowercase) c = char.ToLowerInvariant(c);
                if (s.normalizeDigits && c is >= '1' and <= '9') c = '0';
                dst[i] = c;
            }
        });
    }

    /// <summary>
    /// Shape class: 0 lowercase, 1 Capitalised, 2 UPPER, 3 mixed case, 4 number, 5 has a digit, 6 punctuation only, 7 other.
    /// </summary>
    public static int Shape(string word)
    {
        int upper = 0, lower = 0, digit = 0, punct = 0;
        foreach (char c in word)
        {
            if (char.IsUpper(c)) upper++;
            else if (char.IsLower(c)) lower++;
            else if (char.IsDigit(c)) digit++;
            else if (char.IsPunctuation(c) || char.IsSymbol(c)) punct++;
        }
        int n = word.Length;
        if (digit > 0) return digit + punct == n ? 4 : 5;
        if (punct == n) return 6;
        if (upper == 0 && lower > 0) return 0;
        if (upper == 1 && char.IsUpper(word[0]) && lower > 0) return 1;
        if (upper > 0 && lower == 0) return 2;
        if (upper > 0) return 3;
        return 7;
    }
}
