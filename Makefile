# make test: install what is missing, build, run the Swift tests and the interop suites.
SHELL := /bin/bash
PYTHON ?= python3

.PHONY: test deps build module-tree swift-test interop fuzz-build fuzz-smoke fuzz chaos chaos-smoke bench bench-fence bench-proxy bench-operator bench-manager bench-policies bench-scale bench-smoke demo

test: deps build module-tree swift-test interop fuzz-smoke chaos-smoke bench-smoke

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
	@$(PYTHON) -c "import kubernetes, pytest, yaml, google.protobuf, matplotlib" 2>/dev/null || $(PYTHON) -m pip install -q kubernetes pytest pyyaml protobuf matplotlib
	@$(PYTHON) -c "import kubernetes, pytest, yaml, google.protobuf, matplotlib"

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
bench-proxy: deps
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light)
	swift build -c release --product ctrlmesh
	$(PYTHON) benchmarks/proxy_bench.py --ctrlmesh .build/release/ctrlmesh --json benchmarks/results/proxy.json
	$(PYTHON) benchmarks/plots.py proxy

# Reconcile throughput of the sample CloneSet operator (direct, via proxy, two shards) and
# informer memory per cached JSON byte.
bench-operator:
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	$(PYTHON) benchmarks/operator_bench.py --ctrlmesh .build/release/ctrlmesh --bench .build/release/ctrlmesh-bench

# Handover latency with 10,000 objects, at 20,000 objects and 8 shards under churn (plotted),
# and the write audit of the demo at about 10,000 objects.
bench-manager: deps
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	$(PYTHON) benchmarks/manager_bench.py --ctrlmesh .build/release/ctrlmesh --bench .build/release/ctrlmesh-bench \
	  --json benchmarks/results/handover.json
	$(PYTHON) benchmarks/plots.py handover

# Scale-out: 10,000 CloneSets x 3 pods, one operator direct, then 1, 2, 4 and 8 shards under the
# manager, with an emulated API latency; first with controller-runtime's client limits, then with
# limits high enough that the 2 cores bind. The tables, results/scale*.json and the charts.
bench-scale: deps
	swift build -c release --product ctrlmesh
	$(PYTHON) benchmarks/scale_bench.py --ctrlmesh .build/release/ctrlmesh --json benchmarks/results/scale.json
	$(PYTHON) benchmarks/scale_bench.py --ctrlmesh .build/release/ctrlmesh --qps 400 --burst 600 \
	  --json benchmarks/results/scale-cpu.json
	$(PYTHON) benchmarks/plots.py scale

# The short pass make test runs: the scale harness at 200 CloneSets (direct and 2 shards) on the
# debug build, and its charts, written under a temporary directory.
bench-smoke: deps build
	@out=$$(mktemp -d) && \
	$(PYTHON) benchmarks/scale_bench.py --ctrlmesh .build/debug/ctrlmesh --clonesets 200 --namespaces 10 --shards 2 \
	  --warmup 2 --window 6 --latency-window 4 --timeout 180 --json $$out/scale.json && \
	cp $$out/scale.json $$out/scale-cpu.json && \
	$(PYTHON) benchmarks/plots.py scale --results $$out --out $$out && rm -rf $$out

# What 50 loaded, non-matching fault and breaker rules add to the proxy's passthrough.
bench-policies:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	swift build -c release --product ctrlmesh
	swift build -c release --product ctrlmesh-bench
	$(PYTHON) benchmarks/policy_bench.py --ctrlmesh .build/release/ctrlmesh --bench .build/release/ctrlmesh-bench

demo:
	swift run -c release ctrlmesh demo
