using System.Buffers;
using System.Text;

namespace CudnnRnn.Training;

/// <summary>Which CoNLL-U column holds the tags to learn.</summary>
public enum TagColumn
{
    /// <summary>Column 4: universal part-of-speech tag.</summary>
    Upos = 3,
    /// <summary>Column 5: language-specific part-of-speech tag.</summary>
    Xpos = 4,
}

/// <summary>Parsing helpers for <see cref="TagColumn"/>.</summary>
public static class TagColumns
{
    /// <summary>Parses "upos" or "xpos" (case-insensitive); anything else throws <see cref="ArgumentException"/> naming the choices.</summary>
    public static TagColumn Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "upos" => TagColumn.Upos,
        "xpos" => TagColumn.Xpos,
        _ => throw new ArgumentException($"Unknown tag column '{name}'; expected 'upos' or 'xpos'.", nameof(name)),
    };

    /// <summary>"UPOS" or "XPOS".</summary>
    public static string DisplayName(this TagColumn column) => column == TagColumn.Upos ? "UPOS" : "XPOS";
}

/// <summary>A malformed CoNLL-U input: carries the file, the 1-based line number and the reason.</summary>
public sealed class ConlluFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public ConlluFormatException(string file, int line, string reason)
        : base(line > 0 ? $"{file}:{line}: {reason}" : $"{file}: {reason}")
    {
        File = file;
        Line = line;
        Reason = reason;
    }

    /// <summary>The file (or "&lt;stdin&gt;").</summary>
    public string File { get; }
    /// <summary>1-based line number, or 0 when the problem is the file as a whole.</summary>
    public int Line { get; }
    /// <summary>What is wrong.</summary>
    public string Reason { get; }
}

/// <summary>Kind of a CoNLL-U token line.</summary>
public enum ConlluLineKind
{
    /// <summary>A syntactic word (integer id): what a tagger tags.</summary>
    Word,
    /// <summary>A multi-word token range such as <c>1-2</c>: kept for output, skipped for tagging.</summary>
    MultiWordToken,
    /// <summary>An empty node such as <c>1.1</c>: kept for output, skipped for tagging.</summary>
    EmptyNode,
}

/// <summary>One token line: its ten fields and its kind.</summary>
public sealed record ConlluLine(ConlluLineKind Kind, string[] Fields);

/// <summary>One sentence: comments, every token line (for faithful output) and the words in order.</summary>
public sealed class ConlluSentence
{
    /// <summary>Creates a sentence.</summary>
    public ConlluSentence(IReadOnlyList<string> comments, IReadOnlyList<ConlluLine> lines)
    {
        Comments = comments;
        Lines = lines;
        WordLines = lines.Where(l => l.Kind == ConlluLineKind.Word).ToArray();
        Words = WordLines.Select(l => l.Fields[1]).ToArray();
    }

    /// <summary>Comment lines, including the leading <c>#</c>.</summary>
    public IReadOnlyList<string> Comments { get; }
    /// <summary>Every token line in file order (words, multi-word tokens, empty nodes).</summary>
    public IReadOnlyList<ConlluLine> Lines { get; }
    /// <summary>The word lines only.</summary>
    public IReadOnlyList<ConlluLine> WordLines { get; }
    /// <summary>Word forms (column 2) of the word lines.</summary>
    public string[] Words { get; }

    /// <summary>The tags of the word lines in <paramref name="column"/>.</summary>
    public string[] Tags(TagColumn column) => WordLines.Select(l => l.Fields[(int)column]).ToArray();

    /// <summary>Words and the tags of <paramref name="column"/>.</summary>
    public TaggedSentence ToTagged(TagColumn column) => new(Words, Tags(column));

    /// <summary>A sentence of bare words (from plain text), with "_" in every other column.</summary>
    public static ConlluSentence FromWords(IReadOnlyList<string> words, string? text = null)
    {
        var lines = new ConlluLine[words.Count];
        for (int i = 0; i < words.Count; i++)
            lines[i] = new ConlluLine(ConlluLineKind.Word, [(i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), words[i], "_", "_", "_", "_", "_", "_", "_", "_"]);
        return new ConlluSentence(text is null ? [] : [$"# text = {text}"], lines);
    }
}

/// <summary>Words with one tag each.</summary>
/// <param name="Words">Word forms.</param>
/// <param name="Tags">One tag per word.</param>
public sealed record TaggedSentence(string[] Words, string[] Tags)
{
    /// <summary>Number of words.</summary>
    public int Length => Words.Length;
}

/// <summary>
/// Reads CoNLL-U (https://universaldependencies.org/format.html): comment lines, multi-word token ranges and empty
/// nodes (kept, but not words), blank lines between sentences. Files must be UTF-8 (a BOM is allowed). Any malformed
/// line (invalid UTF-8 included: it is never replaced by U+FFFD), a range not followed by its words, or an empty node
/// not right after its word throws <see cref="ConlluFormatException"/> with the file, line number and reason.
/// </summary>
public static class ConlluReader
{
    /// <summary>Reads a file. An empty file (no sentence) throws <see cref="ConlluFormatException"/>.</summary>
    public static List<ConlluSentence> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CoNLL-U file not found: {path}", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, path);
    }

    /// <summary>Reads UTF-8 CoNLL-U from a stream; invalid UTF-8 throws <see cref="ConlluFormatException"/> with its line.</summary>
    public static List<ConlluSentence> Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return Parse(Utf8Lines(stream, name), name);
    }

    /// <summary>Reads from a text reader (already decoded by the caller); <paramref name="name"/> is used in error messages.</summary>
    public static List<ConlluSentence> Read(TextReader reader, string name)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return Parse(Lines(reader), name);
    }

    private static IEnumerable<string> Lines(TextReader reader)
    {
        while (reader.ReadLine() is { } line) yield return line;
    }

    /// <summary>Splits at '\n' and decodes each line strictly, so an invalid byte is reported on its own line.</summary>
    private static IEnumerable<string> Utf8Lines(Stream stream, string name)
    {
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var buffer = new byte[1 << 16];
        var line = new System.Buffers.ArrayBufferWriter<byte>();
        int lineNo = 0, n;
        string Decode()
        {
            var bytes = line.WrittenSpan;
            if (lineNo == 1 && bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
            try
            {
                return strict.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                string what = e.BytesUnknown is { Length: > 0 } b ? string.Join(" ", b.Select(x => $"0x{x:X2}")) : "?";
                throw new ConlluFormatException(name, lineNo, $"invalid UTF-8 (bytes {what} near byte {e.Index + 1} of the line); CoNLL-U files must be UTF-8");
            }
            finally
            {
                line.ResetWrittenCount();
            }
        }
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            int pos = 0;
            while (pos < n)
            {
                int nl = Array.IndexOf(buffer, (byte)'\n', pos, n - pos);
                int end = nl < 0 ? n : nl;
                line.Write(buffer.AsSpan(pos, end - pos));
                pos = end + 1;
                if (nl < 0) break;
                lineNo++;
                yield return Decode();
            }
        }
        if (line.WrittenCount > 0)
        {
            lineNo++;
            yield return Decode();
        }
    }

    private static bool Number(ReadOnlySpan<char> s, out int value) =>
        int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);

    private static List<ConlluSentence> Parse(IEnumerable<string> source, string name)
    {
        var sentences = new List<ConlluSentence>();
        var comments = new List<string>();
        var lines = new List<ConlluLine>();
        int lineNo = 0, expectedWord = 1, sentenceStart = 0;
        int rangeEnd = 0, rangeLine = 0, emptyMinor = 0; // last multi-word range of the sentence; last empty node after the current word
        string rangeId = "";

        void Flush()
        {
            if (lines.Count == 0)
            {
                if (comments.Count > 0)
                    throw new ConlluFormatException(name, lineNo, "comment lines without any token line (a sentence needs at least one word)");
                return;
            }
            if (expectedWord == 1)
                throw new ConlluFormatException(name, sentenceStart, "sentence has no word lines (only multi-word tokens or empty nodes)");
            if (rangeEnd >= expectedWord)
                throw new ConlluFormatException(name, rangeLine, $"multi-word token range '{rangeId}' covers words up to {rangeEnd}, but the sentence ends after word {expectedWord - 1}");
            sentences.Add(new ConlluSentence(comments.ToArray(), lines.ToArray()));
            comments.Clear();
            lines.Clear();
            expectedWord = 1;
            rangeEnd = emptyMinor = 0;
        }

        foreach (var raw in source)
        {
            string line = raw;
            lineNo++;
            if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
            if (string.IsNullOrWhiteSpace(line))
            {
                Flush();
                continue;
            }
            if (line[0] == '#')
            {
                if (lines.Count > 0) throw new ConlluFormatException(name, lineNo, "comment line inside a sentence (comments must come before the first token line)");
                comments.Add(line);
                continue;
            }
            if (lines.Count == 0) sentenceStart = lineNo;
            var fields = line.Split('\t');
            if (fields.Length != 10)
                throw new ConlluFormatException(name, lineNo, $"expected 10 tab-separated fields, found {fields.Length}");
            string id = fields[0];
            ConlluLineKind kind;
            int dash = id.IndexOf('-'), dot = id.IndexOf('.');
            if (dash > 0)
            {
                if (!Number(id.AsSpan(0, dash), out int a) || !Number(id.AsSpan(dash + 1), out int b) || a < 1 || b <= a)
                    throw new ConlluFormatException(name, lineNo, $"bad multi-word token range '{id}' (expected N-M with M > N >= 1)");
                if (a <= rangeEnd)
                    throw new ConlluFormatException(name, lineNo, $"multi-word token range '{id}' starts inside the range '{rangeId}'");
                if (a != expectedWord)
                    throw new ConlluFormatException(name, lineNo, $"multi-word token range '{id}' should start at word {expectedWord}");
                (rangeEnd, rangeLine, rangeId) = (b, lineNo, id);
                kind = ConlluLineKind.MultiWordToken;
            }
            else if (dot > 0)
            {
                if (!Number(id.AsSpan(0, dot), out int a) || !Number(id.AsSpan(dot + 1), out int b) || b < 1)
                    throw new ConlluFormatException(name, lineNo, $"bad empty-node id '{id}' (expected N.M with M >= 1)");
                if (a != expectedWord - 1 || b != emptyMinor + 1)
                    throw new ConlluFormatException(name, lineNo, $"empty node '{id}' out of place (expected {expectedWord - 1}.{emptyMinor + 1}: empty nodes follow their word, numbered from 1)");
                emptyMinor = b;
                kind = ConlluLineKind.EmptyNode;
            }
            else
            {
                if (!Number(id, out int n) || n < 1)
                    throw new ConlluFormatException(name, lineNo, $"bad word id '{id}' (expected a positive integer, N-M or N.M)");
                if (n != expectedWord)
                    throw new ConlluFormatException(name, lineNo, $"word id {n} out of sequence (expected {expectedWord})");
                if (fields[1].Length == 0)
                    throw new ConlluFormatException(name, lineNo, "empty FORM field");
                if (fields[3].Length == 0 || fields[4].Length == 0)
                    throw new ConlluFormatException(name, lineNo, "empty UPOS or XPOS field (use '_' for none)");
                expectedWord++;
                emptyMinor = 0;
                kind = ConlluLineKind.Word;
            }
            lines.Add(new ConlluLine(kind, fields));
        }
        lineNo++;
        Flush();
        if (sentences.Count == 0)
            throw new ConlluFormatException(name, 0, "no sentences (the file is empty or holds no token lines)");
        return sentences;
    }
}

/// <summary>Writes CoNLL-U.</summary>
public static class ConlluWriter
{
    /// <summary>
    /// Writes <paramref name="sentence"/> with <paramref name="tags"/> (one per word) in <paramref name="column"/>;
    /// multi-word tokens, empty nodes and comments are written unchanged.
    /// </summary>
    public static void Write(TextWriter writer, ConlluSentence sentence, IReadOnlyList<string> tags, TagColumn column)
    {
        if (tags.Count != sentence.Words.Length)
            throw new ArgumentException($"{tags.Count} tags for a sentence of {sentence.Words.Length} words.", nameof(tags));
        foreach (var c in sentence.Comments) writer.WriteLine(c);
        int w = 0;
        foreach (var line in sentence.Lines)
        {
            if (line.Kind == ConlluLineKind.Word)
            {
                var f = (string[])line.Fields.Clone();
                f[(int)column] = tags[w++];
                writer.WriteLine(string.Join('\t', f));
            }
            else writer.WriteLine(string.Join('\t', line.Fields));
        }
        writer.WriteLine();
    }
}
