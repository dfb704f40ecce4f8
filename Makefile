# make test: install what is missing, build, run the Swift tests and the interop suites.
SHELL := /bin/bash
PYTHON ?= python3

.PHONY: test deps build module-tree swift-test interop fuzz-build fuzz-smoke fuzz chaos chaos-smoke bench bench-fence bench-proxy bench-operator bench-manager bench-policies demo

test: deps build module-tree swift-test interop fuzz-smoke chaos-smoke

deps:
	@missing=""; \
	command -v nghttp >/dev/null || missing="$$missing nghttp2-client"; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v protoc >/dev/null || missing="$$missing protobuf-compiler"; \
	dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing="$$missing libsqlite3-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v ss >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2)
	@command -v ss >/dev/null || (echo "ss (iproute2) is required by the chaos soak and could not be installed" && exit 1)
	@command -v kubectl >/dev/null || (echo "kubectl is required (v1.32) and is not installed" && exit 1)
	@$(PYTHON) -c "import kubernetes, pytest, yaml, google.protobuf" 2>/dev/null || $(PYTHON) -m pip install -q kubernetes pytest pyyaml protobuf
	@$(PYTHON) -c "import kubernetes, pytest, yaml, google.protobuf"

build:
	swift build

# The module tree at the top of Package.swift, checked against the package as SwiftPM reads it.
module-tree:
	$(PYTHON) Tests/module_tree.py

swift-test:
	swift test

interop: build
	CTRLMESH_BIN=$(CURDIR)/.build/debug/ctrlmesh $(PYTHON) -m pytest -q Tests/interop

# Coverage-guided fuzzing (libFuzzer with AddressSanitizer) of every parser of untrusted bytes:
# harnesses in Fuzz/Sources, committed corpora in Fuzz/corpus (see Fuzz/run.py).
FUZZ_BUILD = swift build -c release --product ctrlmesh-fuzz --scratch-path .build-fuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -parse-as-library
FUZZ_RUNS ?= 10000000

fuzz-build:
	$(FUZZ_BUILD)

# The short pass make test runs: each harness over its corpus, then a few seconds of fuzzing.
fuzz-smoke: fuzz-build
	$(PYTHON) Fuzz/run.py --smoke --seconds 8

# The long pass: each harness until FUZZ_RUNS executions, two at a time; what found new
# coverage is merged into the committed corpus.
fuzz: fuzz-build
	$(PYTHON) Fuzz/run.py --runs $(FUZZ_RUNS) --jobs 2

# The chaos soak (Tests/chaos/chaos.py): the mesh as processes through seeded fault cycles
# (kills, pauses, partitions, API server kill -9, scale), audited for two writers per key and
# lost writes. The long pass: CHAOS_CYCLES cycles; make test runs a short one.
CHAOS_CYCLES ?= 110
CHAOS_SEED ?= 1

chaos: build
	CTRLMESH_BIN=$(CURDIR)/.build/debug/ctrlmesh $(PYTHON) Tests/chaos/chaos.py --cycles $(CHAOS_CYCLES) --seed $(CHAOS_SEED) \
	  --json benchmarks/chaos-results.json

chaos-smoke: build
	CTRLMESH_BIN=$(CURDIR)/.build/debug/ctrlmesh $(PYTHON) Tests/chaos/chaos.py --cycles 16 --seed 2 --hold 4,6

# What the fence where writes land adds per stamped write: native, through the manager's
# webhook, and without a fence, side by side.
bench-fence:
	swift build -c release --product ctrlmesh
	$(PYTHON) benchmarks/fence_bench.py --ctrlmesh .build/release/ctrlmesh

bench:
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	.build/release/ctrlmesh-bench --ctrlmesh .build/release/ctrlmesh

# Passthrough, filtered list and watch figures for `ctrlmesh proxy` beside kubectl proxy and nginx.
bench-proxy:
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light)
	swift build -c release --product ctrlmesh
	$(PYTHON) benchmarks/proxy_bench.py --ctrlmesh .build/release/ctrlmesh

# Reconcile throughput of the sample CloneSet operator (direct, via proxy, two shards) and
# informer memory per cached JSON byte.
bench-operator:
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	$(PYTHON) benchmarks/operator_bench.py --ctrlmesh .build/release/ctrlmesh --bench .build/release/ctrlmesh-bench

# Handover latency with 10,000 objects, and the write audit of the demo at about 10,000 objects.
bench-manager:
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	$(PYTHON) benchmarks/manager_bench.py --ctrlmesh .build/release/ctrlmesh --bench .build/release/ctrlmesh-bench

# What 50 loaded, non-matching fault and breaker rules add to the proxy's passthrough.
bench-policies:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	$(PYTHON) benchmarks/policy_bench.py --ctrlmesh .build/release/ctrlmesh --bench .build/release/ctrlmesh-bench

demo:
	swift run -c release ctrlmesh demo
