import KubeModel
import PropertyBased
import Testing

@Suite struct LabelSelectorTests {
    let labels = ["app": "web", "tier": "gold", "n": "5"]

    @Test(arguments: [
        ("app=web", true), ("app==web", true), ("app!=web", false), ("app!=db", true), ("missing!=x", true),
        ("app in (db,web)", true), ("app notin (db,web)", false), ("missing notin (a)", true), ("app", true),
        ("!app", false), ("!missing", true), ("n>4", true), ("n<5", false), ("app=web,tier=gold", true),
        ("app=web, tier=silver", false), ("", true), (" app = web ", true), ("tier in (gold)", true),
    ])
    func matches(_ selector: String, _ expected: Bool) throws {
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test(arguments: ["app=", "=x", "app in", "app in (a", "n>x", "app=web,", "a b", "bad key=x", "app=web!"])
    func rejects(_ selector: String) {
        if selector == "app=" {
            // an empty value is valid and matches an empty label
            #expect((try? LabelSelector(parsing: selector))?.matches(["app": ""]) == true)
        } else {
            #expect(throws: SelectorParseError.self) { try LabelSelector(parsing: selector) }
        }
    }

    @Test func objectFormMatchesTheSameAsText() throws {
        let object: JSON = ["matchLabels": ["app": "web"], "matchExpressions": [["key": "tier", "operator": "NotIn", "values": ["silver"]]]]
        let fromObject = try LabelSelector(object: object)
        let fromText = try LabelSelector(parsing: "app=web,tier notin (silver)")
        #expect(fromObject == fromText)
        #expect(try LabelSelector(object: nil).isEverything)
    }

    /// Equality requirements built from random labels always match those labels; the negated
    /// form never does.
    @Test func generatedEqualitySelectors() async {
        let key = Gen.lowercaseLetter.string(of: 1...6)
        let value = Gen.letterOrNumber.string(of: 1...6)
        await propertyCheck(count: 300, input: key, value, key) { k, v, other in
            let labels = [k: v]
            func parse(_ text: String) -> LabelSelector {
                do { return try LabelSelector(parsing: text) } catch {
                    Issue.record("\(text): \(error)")
                    return .nothing
                }
            }
            #expect(parse("\(k)=\(v)").matches(labels))
            #expect(parse("\(k) in (\(v),zz)").matches(labels))
            #expect(!parse("\(k)!=\(v)").matches(labels))
            #expect(parse(other).matches(labels) == (other == k))
        }
    }
}

@Suite struct FieldSelectorTests {
    @Test func parsesAndMatches() throws {
        let selector = try FieldSelector(parsing: "metadata.name=a,status.phase!=Running")
        let values = ["metadata.name": "a", "status.phase": "Pending"]
        #expect(selector.matches { values[$0] })
        #expect(!selector.matches { ["metadata.name": "a", "status.phase": "Running"][$0] })
        #expect(try FieldSelector(parsing: "metadata.name==b").requirements.first?.value == "b")
    }

    @Test func rejectsTermsWithoutOperator() {
        #expect(throws: SelectorParseError.self) { try FieldSelector(parsing: "metadata.name") }
    }
}
