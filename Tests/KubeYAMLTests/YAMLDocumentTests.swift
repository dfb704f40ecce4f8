import KubeModel
import KubeYAML
import PropertyBased
import Testing

@Suite struct YAMLDocumentTests {
    /// 700 bytes of nested aliases once grew a running proxy to 3.9 GB: every reader refuses
    /// them after a bounded amount of work.
    @Test func aliasBombsAreRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<12 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            text += "a\(level): &a\(level) [\(refs)]\n"
        }
        #expect { try YAMLDocument.parse(text) } throws: { "\($0)".contains("too many values") }
        #expect { try YAMLDocument.parseAll(text + "---\nb: 1\n") } throws: { "\($0)".contains("too many values") }
    }

    @Test func aFewAliasesAreFine() throws {
        let value = try YAMLDocument.parse("base: &b {image: x, pull: IfNotPresent}\none: *b\ntwo: *b\n")
        #expect(value["two"]?["image"] == "x" && value["one"] == value["base"])
    }

    @Test func deepNestingIsRefusedWithoutRecursion() {
        #expect(throws: YAMLDocument.ParseError.self) { try YAMLDocument.parse(String(repeating: "[", count: 100_000)) }
        #expect(throws: YAMLDocument.ParseError.self) { try YAMLDocument.parse(String(repeating: "- ", count: 300) + "x") }
    }

    @Test(arguments: [
        ("a: 1\na: 2\n", "defined twice"), ("? [a]\n: b\n", "mapping keys must be scalars"), ("a: *nope\n", "undefined alias"),
        ("a: [1, 2\n", "invalid YAML"), ("\t- x\n", "invalid YAML"),
    ])
    func malformedDocumentsAreErrors(_ text: String, _ message: String) {
        #expect { try YAMLDocument.parse(text) } throws: { "\($0)".contains(message) }
    }

    /// Scalars resolve as kubectl's YAML does.
    @Test func scalarsResolveAsKubectlDoes() throws {
        let value = try YAMLDocument.parse("""
            t: yes
            f: Off
            n: ~
            e:
            i: 0x1F
            o: 017
            u: 1_000
            neg: -42
            big: 18446744073709551615
            flt: 1.5e3
            inf: .inf
            str: "true"
            tagged: !!str 12
            word: replicas
            """)
        #expect(value == (try JSON.parse(#"""
            {"t":true,"f":false,"n":null,"e":null,"i":31,"o":15,"u":1000,"neg":-42,"big":1.8446744073709552e+19,
             "flt":1500.0,"inf":".inf","str":"true","tagged":"12","word":"replicas"}
            """#)))
    }

    @Test func everyDocumentOfAStreamAndNoneDropped() throws {
        let documents = try YAMLDocument.parseAll("a: 1\n---\n---\nb: 2\n--- text\n")
        #expect(documents == [["a": 1], ["b": 2], "text"])
    }

    /// Whatever is rendered reads back as the same value.
    @Test func renderedValuesReadBack() async {
        let word = Gen.element(of: ["yes", "no", "y", "0x10", "1e3", "~", "", "plain", "a: b", "- x", "#c", "true", "12", "\"q\"", "é"]).map { $0 ?? "" }
        await propertyCheck(count: 300, input: word.array(of: 0...5), word) { words, key in
            let value: JSON = .object(JSONObject([(key.isEmpty ? "k" : key, .array(words.map { .string($0) }))]))
            #expect((try? YAMLDocument.parse(YAMLDocument.render(value))) == value)
        }
    }
}
