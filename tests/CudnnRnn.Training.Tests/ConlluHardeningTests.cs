using System.Text;
using CudnnRnn.Testing;
using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

/// <summary>CoNLL-U inputs that used to be accepted with the data silently changed or inconsistent (issue 16, item 3).</summary>
public sealed class ConlluHardeningTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cudnnrnn-conllu-hardening-{Guid.NewGuid():N}");

    public ConlluHardeningTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string Word(string id, string form = "w", string upos = "NOUN") => $"{id}\t{form}\t_\t{upos}\tNN\t_\t_\t_\t_\t_\n";

    private static ConlluFormatException Fails(string text) =>
        Assert.Throws<ConlluFormatException>(() => ConlluReader.Read(new StringReader(text), "t.conllu"));

    [Fact]
    public void Invalid_utf8_is_rejected_with_its_line_number()
    {
        string path = Path.Combine(_dir, "bad.conllu");
        // Far enough into the file that a reader decoding whole buffers ahead would report the wrong line.
        var text = new StringBuilder();
        for (int i = 0; i < 400; i++) text.Append(Word("1", $"word{i}")).Append('\n');
        var bytes = new List<byte>(Encoding.UTF8.GetBytes(text.ToString()));
        bytes.AddRange(Encoding.UTF8.GetBytes("1\tca"));
        bytes.AddRange(new byte[] { 0xC3, 0x28 }); // a lead byte followed by a non-continuation byte
        bytes.AddRange(Encoding.UTF8.GetBytes("t\t_\tNOUN\tNN\t_\t_\t_\t_\t_\n\n"));
        File.WriteAllBytes(path, bytes.ToArray());
        var e = Assert.Throws<ConlluFormatException>(() => ConlluReader.ReadFile(path));
        Assert.Equal(801, e.Line);
        Assert.Contains("UTF-8", e.Reason);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void A_utf8_bom_and_valid_multibyte_text_still_read()
    {
        string path = Path.Combine(_dir, "ok.conllu");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Word("1", "café") + Word("2", "日本") + "\n")]);
        var s = Assert.Single(ConlluReader.ReadFile(path));
        Assert.Equal(["café", "日本"], s.Words);
    }

    [Fact]
    public void A_multiword_range_must_be_followed_by_its_words()
    {
        // "3-4" but the sentence ends after word 3.
        var e = Fails(Word("1") + Word("2") + Word("3-4") + Word("3") + "\n");
        Assert.Equal(3, e.Line);
        Assert.Contains("3-4", e.Reason);
        // A range starting inside the previous one.
        e = Fails(Word("1-3") + Word("1") + Word("2-3") + Word("2") + Word("3") + "\n");
        Assert.Equal(3, e.Line);
        // Start after end / equal.
        Assert.Equal(1, Fails(Word("2-1") + Word("1") + "\n").Line);
        Assert.Equal(1, Fails(Word("1-1") + Word("1") + "\n").Line);
    }

    [Fact]
    public void An_empty_node_must_follow_its_word()
    {
        // "5.1" after word 2.
        var e = Fails(Word("1") + Word("2") + Word("5.1") + Word("3") + "\n");
        Assert.Equal(3, e.Line);
        Assert.Contains("5.1", e.Reason);
        // Decimal parts in order: 2.1, 2.2; 2.2 first is out of sequence.
        Assert.Equal(3, Fails(Word("1") + Word("2") + Word("2.2") + "\n").Line);
        Assert.Equal(4, Fails(Word("1") + Word("1.1") + Word("2") + Word("1.2") + "\n").Line);
        // Valid: 0.1 before word 1, 2.1 and 2.2 after word 2.
        var s = Assert.Single(ConlluReader.Read(new StringReader(Word("0.1") + Word("1") + Word("2") + Word("2.1") + Word("2.2") + "\n"), "ok"));
        Assert.Equal(2, s.Words.Length);
    }

    [Theory]
    [InlineData("en_ewt-ud-train.conllu")]
    [InlineData("en_ewt-ud-dev.conllu")]
    public void The_ud_english_treebank_passes_the_stricter_checks(string file)
    {
        // Real data with 2.6k multi-word ranges and a few dozen empty nodes: the new checks must accept all of them.
        string path = SharedData.Path("data", "ud-english-ewt", file);
        if (!File.Exists(path)) Assert.Skip($"{path} is not present");
        var sentences = ConlluReader.ReadFile(path);
        Assert.True(sentences.Count > 1000, $"{sentences.Count} sentences");
        Assert.Contains(sentences, s => s.Lines.Any(l => l.Kind == ConlluLineKind.MultiWordToken));
        if (file.Contains("train", StringComparison.Ordinal)) Assert.Contains(sentences, s => s.Lines.Any(l => l.Kind == ConlluLineKind.EmptyNode));
    }
}
