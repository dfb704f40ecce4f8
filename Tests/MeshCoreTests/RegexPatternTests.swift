@testable import MeshCore
import PropertyBased
import Testing

/// The linear-time engine behind namespace regexes and policy paths: the same answers as a
/// backtracking engine on the syntax both read, refusals for what it does not read, and work
/// bounded by the text's length times the program's, whatever the pattern.
@Suite struct RegexPatternTests {
    /// A random pattern over a, b, c of the constructs both engines read alike.
    static func pattern(_ random: inout FixtureRandom, depth: Int = 0) -> String {
        var out = ""
        for _ in 0..<random.int(1...3) {
            var atom: String
            switch random.int(0...(depth < 3 ? 9 : 6)) {
            case 0: atom = "."
            case 1: atom = ["[ab]", "[^a]", "[a-b]", "[c-c]", "\\w", "[-a]"][random.int(0...5)]
            case 2: atom = random.chance(50) ? "^" : "$"
            case 3: atom = random.chance(50) ? "\\b" : "\\B"
            case 7, 8: atom = "(" + pattern(&random, depth: depth + 1) + ")"
            case 9: atom = "(?:" + pattern(&random, depth: depth + 1) + "|" + pattern(&random, depth: depth + 1) + ")"
            default: atom = ["a", "b", "c"][random.int(0...2)]
            }
            if random.chance(40), !["^", "$", "\\b", "\\B"].contains(atom) {
                atom += ["*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "{2,2}"][random.int(0...7)]
            }
            out += atom
        }
        return random.chance(15) ? out + "|" + pattern(&random, depth: depth + 1) : out
    }

    @Test func answersAsABacktrackingEngineDoes() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let text = RegexPatternTests.pattern(&random)
            // Go's \b is ASCII and simple: so is the oracle's.
            guard let ours = try? RegexPattern(text), let theirs = try? Regex(text).wordBoundaryKind(.simple).asciiOnlyWordCharacters() else {
                Issue.record("seed \(seed): \(text) did not compile")
                return
            }
            for _ in 0..<20 {
                let input = String((0..<random.int(0...8)).map { _ in ["a", "b", "c", " "][random.int(0...3)] })
                let expected = (try? theirs.firstMatch(in: input)) != nil
                #expect(ours.matches(input) == expected, "seed \(seed): /\(text)/ on \"\(input)\"")
            }
        }
    }

    @Test(arguments: [
        ("^team-", "team-a", true), ("^team-", "my-team-a", false), ("team", "my-team-a", true),
        ("^ns-(2[5-9]|[34][0-9])$", "ns-31", true), ("^ns-(2[5-9]|[34][0-9])$", "ns-50", false),
        ("^a{2,3}$", "aaa", true), ("^a{2,3}$", "aaaa", false), ("a{", "a{", true), ("x{2,1", "x{2,1", true),
        (".*(127.0.0.1).*", "http://127.0.0.1:6443/api", true), ("^(?P<team>[a-z]+)-\\d+$", "gold-12", true),
        ("^\\.\\*$", ".*", true), ("^[^\\n]$", "\n", false), ("\\bns\\b", "a ns b", true), ("\\bns\\b", "ans", false),
        ("é+", "café", true), ("^$", "", true), ("a|", "zzz", true),
    ] as [(String, String, Bool)])
    func readsGoSyntax(_ pattern: String, _ text: String, _ matched: Bool) throws {
        #expect(try RegexPattern(pattern).matches(text) == matched)
    }

    /// What it does not read is refused, never read some other way.
    @Test(arguments: ["(", ")", "a**", "*a", "a{2}{3}", "(?i)team", "[[:alpha:]]", "\\pL", "\\1", "[z-a]", "a{1001}",
                      "(?P<>a)", "[a", "\\", String(repeating: "(", count: 201) + "a" + String(repeating: ")", count: 201),
                      "(a{1000}){1000}", "[\\d-z]", "[a-\\w]", "(?P<x>a)(?P<x>b)"])
    func refusesWhatItDoesNotRead(_ pattern: String) {
        #expect(throws: RegexSyntaxError.self) { try RegexPattern(pattern) }
    }

    /// A class of many ranges is sorted and merged once: 20,000 ranges read at once (merging
    /// them one by one cost the square).
    @Test func aLargeClassIsReadInOnePass() throws {
        let members = (0..<20_000).map { String(Unicode.Scalar(0x100 + 2 * $0)!) }.joined()
        let regex = try RegexPattern("^(?:[" + members + "]|a)+$")
        #expect(regex.matches("a\u{100}a") && !regex.matches("\u{101}"))
    }

    /// The patterns that take a backtracking engine exponential time cost this one at most
    /// (length + 1) × instructions steps.
    @Test(arguments: ["^(a+)+$", "^(a|a)*$", "(a*)*b", "^(a|aa)+$", "^(([a-z])+.)+[A-Z]([a-z])+$"])
    func workIsLinearInTheText(_ pattern: String) throws {
        let regex = try RegexPattern(pattern)
        for length in [63, 5_000] {
            let text = String(repeating: "a", count: length) + "!"
            let (matched, steps) = regex.program.run(text)
            #expect(!matched)
            #expect(steps <= (text.unicodeScalars.count + 1) * regex.program.instructions.count * 2)
        }
    }
}
