/// A regular expression compiled for a Pike VM: every position of the text is visited once,
/// with at most one thread per instruction, so a match costs at most (length + 1) ×
/// instructions steps whatever the pattern (Go's `regexp` and RE2 make the same promise). A
/// backtracking engine given `^(a+)+$` and a namespace of 30 `a`s and a `b` never answers.
struct RegexProgram: Sendable {
    /// The most instructions a program may have: a bound on the work of each step.
    static let maxInstructions = 5_000

    enum Instruction: Sendable {
        case scalars(ScalarSet)
        case split(Int, Int)
        case jump(Int)
        case assertion(RegexAssertion)
        case match
    }

    let instructions: [Instruction]

    init(_ node: RegexNode) throws(RegexSyntaxError) {
        var builder = Builder()
        try builder.emit(node)
        try builder.append(.match)
        instructions = builder.instructions
    }

    struct Builder {
        var instructions: [Instruction] = []

        mutating func append(_ instruction: Instruction) throws(RegexSyntaxError) {
            guard instructions.count < RegexProgram.maxInstructions else {
                throw RegexSyntaxError(description: "expression too large: more than \(RegexProgram.maxInstructions) instructions")
            }
            instructions.append(instruction)
        }

        mutating func emit(_ node: RegexNode) throws(RegexSyntaxError) {
            switch node {
            case .empty: break
            case .scalars(let set): try append(.scalars(set))
            case .assertion(let assertion): try append(.assertion(assertion))
            case .concat(let items):
                for item in items { try emit(item) }
            case .alternate(let branches):
                // split L1, next; L1: branch; jump end; next: split L2, … ; the last branch alone.
                var jumps: [Int] = []
                for branch in branches.dropLast() {
                    let split = instructions.count
                    try append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(instructions.count)
                    try append(.jump(-1))
                    instructions[split] = .split(split + 1, instructions.count)
                }
                try emit(branches[branches.count - 1])
                for jump in jumps { instructions[jump] = .jump(instructions.count) }
            case .repetition(let inner, let min, let max):
                for _ in 0..<min { try emit(inner) }
                if let max {
                    // Each optional copy: split into it or past all that remain.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(instructions.count)
                        try append(.split(instructions.count + 1, -1))
                        try emit(inner)
                    }
                    for split in splits { instructions[split] = .split(split + 1, instructions.count) }
                } else {
                    let loop = instructions.count
                    try append(.split(loop + 1, -1))
                    try emit(inner)
                    try append(.jump(loop))
                    instructions[loop] = .split(loop + 1, instructions.count)
                }
            }
        }
    }

    /// Whether the expression matches anywhere in `text` (Go's `MatchString`), and the steps
    /// it took.
    func run(_ text: String) -> (matched: Bool, steps: Int) {
        let input = Array(text.unicodeScalars.lazy.map(\.value))
        var current = ThreadList(capacity: instructions.count)
        var next = ThreadList(capacity: instructions.count)
        var stack: [Int] = []
        var steps = 0
        for position in 0...input.count {
            // Unanchored: a new thread starts at every position.
            if add(0, at: position, input: input, to: &current, stack: &stack, steps: &steps) { return (true, steps) }
            for pc in current.members {
                steps += 1
                guard case .scalars(let set) = instructions[pc], position < input.count, set.contains(input[position]) else { continue }
                if add(pc + 1, at: position + 1, input: input, to: &next, stack: &stack, steps: &steps) { return (true, steps) }
            }
            swap(&current, &next)
            next.clear()
        }
        return (false, steps)
    }

    /// Adds a thread at `pc` and every thread its empty moves reach; true once one reaches the
    /// match.
    func add(_ pc: Int, at position: Int, input: [UInt32], to list: inout ThreadList, stack: inout [Int], steps: inout Int) -> Bool {
        stack.append(pc)
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            steps += 1
            switch instructions[pc] {
            case .match: return true
            case .jump(let target): stack.append(target)
            case .split(let first, let second): stack.append(second); stack.append(first)
            case .assertion(let assertion):
                if holds(assertion, at: position, input: input) { stack.append(pc + 1) }
            case .scalars: break
            }
        }
        return false
    }

    func holds(_ assertion: RegexAssertion, at position: Int, input: [UInt32]) -> Bool {
        switch assertion {
        case .beginText: return position == 0
        case .endText: return position == input.count
        case .wordBoundary, .notWordBoundary:
            let before = position > 0 && ScalarSet.word.contains(input[position - 1])
            let after = position < input.count && ScalarSet.word.contains(input[position])
            return (before != after) == (assertion == .wordBoundary)
        }
    }

    /// A set of instruction indices with O(1) insert, membership and clear (a sparse set).
    struct ThreadList {
        var members: [Int] = []
        var index: [Int]

        init(capacity: Int) {
            index = Array(repeating: -1, count: capacity)
        }

        /// Inserts `pc`; false when it was already there.
        mutating func insert(_ pc: Int) -> Bool {
            let slot = index[pc]
            if slot >= 0, slot < members.count, members[slot] == pc { return false }
            index[pc] = members.count
            members.append(pc)
            return true
        }

        mutating func clear() {
            members.removeAll(keepingCapacity: true)
        }
    }
}
