using CudnnRnn.Training;
using Xunit;

namespace CudnnRnn.Training.Tests;

public class ConlluTests
{
    private const string Sample =
        "# sent_id = 1\n" +
        "# text = Don't go.\n" +
        "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n" +
        "1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n" +
        "2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n" +
        "3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n" +
        "3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_\n" +
        "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n" +
        "\n" +
        "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n" +
        "\n";

    private static List<ConlluSentence> Parse(string text, string name = "test.conllu") => ConlluReader.Read(new StringReader(text), name);

    [Fact]
    public void Skips_multiword_tokens_and_empty_nodes_and_keeps_comments()
    {
        var s = Parse(Sample);
        Assert.Equal(2, s.Count);
        Assert.Equal(["Do", "n't", "go", "."], s[0].Words);
        Assert.Equal(["AUX", "PART", "VERB", "PUNCT"], s[0].Tags(TagColumn.Upos));
        Assert.Equal(["VBP", "RB", "VB", "."], s[0].Tags(TagColumn.Xpos));
        Assert.Equal(2, s[0].Comments.Count);
        Assert.Equal(6, s[0].Lines.Count);
        Assert.Equal(ConlluLineKind.MultiWordToken, s[0].Lines[0].Kind);
        Assert.Equal(ConlluLineKind.EmptyNode, s[0].Lines[4].Kind);
        Assert.Equal(["Hi"], s[1].Words);
    }

    [Fact]
    public void Handles_crlf_and_a_missing_final_blank_line()
    {
        var s = Parse(Sample.Replace("\n", "\r\n").TrimEnd());
        Assert.Equal(2, s.Count);
        Assert.Equal(["INTJ"], s[1].Tags(TagColumn.Upos));
    }

    [Theory]
    [InlineData("1\tDo\tdo\tAUX\n", 1, "expected 10 tab-separated fields, found 4")]
    [InlineData("# c\n1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n3\tB\tb\tX\tX\t_\t1\tdep\t_\t_\n", 3, "word id 3 out of sequence (expected 2)")]
    [InlineData("1\tA\ta\tX\tX\t_\t0\troot\t_\t_\nx\tB\tb\tX\tX\t_\t1\tdep\t_\t_\n", 2, "bad word id 'x'")]
    [InlineData("1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n2-1\tB\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "bad multi-word token range '2-1'")]
    [InlineData("1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n# late\n", 2, "comment line inside a sentence")]
    [InlineData("\n\n1\tA\ta\t\tX\t_\t0\troot\t_\t_\n", 3, "empty UPOS or XPOS field")]
    public void Malformed_lines_report_file_line_and_reason(string text, int line, string reason)
    {
        var e = Assert.Throws<ConlluFormatException>(() => Parse(text, "bad.conllu"));
        Assert.Equal("bad.conllu", e.File);
        Assert.Equal(line, e.Line);
        Assert.Contains(reason, e.Reason);
        Assert.StartsWith($"bad.conllu:{line}: ", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n\n")]
    public void Empty_input_is_a_clear_error(string text)
    {
        var e = Assert.Throws<ConlluFormatException>(() => Parse(text, "empty.conllu"));
        Assert.Contains("no sentences", e.Message);
        Assert.StartsWith("empty.conllu: ", e.Message);
    }

    [Fact]
    public void Empty_file_on_disk_is_a_clear_error()
    {
        string path = Path.Combine(Path.GetTempPath(), $"empty-{Guid.NewGuid():N}.conllu");
        File.WriteAllText(path, "");
        try
        {
            var e = Assert.Throws<ConlluFormatException>(() => ConlluReader.ReadFile(path));
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("upos", TagColumn.Upos)]
    [InlineData("XPOS", TagColumn.Xpos)]
    public void Parses_known_columns(string name, TagColumn expected) => Assert.Equal(expected, TagColumns.Parse(name));

    [Fact]
    public void Unknown_column_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => TagColumns.Parse("deprel"));
        Assert.Contains("Unknown tag column 'deprel'; expected 'upos' or 'xpos'", e.Message);
    }

    [Fact]
    public void Writer_replaces_the_tag_column_and_keeps_everything_else()
    {
        var s = Parse(Sample);
        var w = new StringWriter { NewLine = "\n" };
        ConlluWriter.Write(w, s[0], ["X1", "X2", "X3", "X4"], TagColumn.Upos);
        var lines = w.ToString().Split('\n');
        Assert.Equal("# sent_id = 1", lines[0]);
        Assert.Equal("1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_", lines[2]);
        Assert.Equal("1\tDo\tdo\tX1\tVBP\t_\t3\taux\t_\t_", lines[3]);
        Assert.Equal("3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_", lines[6]);
        var again = Parse(w.ToString());
        Assert.Equal(["X1", "X2", "X3", "X4"], again[0].Tags(TagColumn.Upos));
    }
}
