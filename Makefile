# Fovea: `make demo` sets everything up and classifies the sample photos; `make test` runs the
# whole test suite. Both install missing Debian packages and fetch the model and photos first.
CACHE ?= $(HOME)/.cache/fovea
export FOVEA_CACHE := $(CACHE)
RELEASE_TESTS := swift build -c release --build-tests -Xswiftc -enable-testing
FOVEA := .build/release/fovea
# The CPU-only PyTorch wheel the benchmarks were measured with (pip falls back to PyPI's torch).
TORCH_CPU ?= 2.13.0+cpu
# torchvision's release for that torch (a CUDA build from PyPI: scripts/torchvision_import.py).
TORCHVISION ?= 0.28.0

.PHONY: demo test bench deps data build golden fuzz docs clean

deps:
	@scripts/install-deps.sh

data: deps
	@scripts/fetch-data.sh "$(CACHE)"

# Same flags as the test build, so `make demo` then `make test` compiles once.
build: deps
	$(RELEASE_TESTS)

demo: data build
	$(FOVEA) classify $(CACHE)/photos/chelsea.png $(CACHE)/photos/coffee.png \
	    $(CACHE)/photos/astronaut.png $(CACHE)/photos/rocket.jpg $(CACHE)/photos/china.jpg --top 3 \
	    -o $(CACHE)/classify.png
	@echo "picture of the results: $(CACHE)/classify.png"

# Tests run whole networks, so they are built in release mode (with @testable enabled). Then the
# viewer end to end in headless Chromium (Selenium from PyPI, Chromium from Debian).
test: data
	$(RELEASE_TESTS)
	swift test -c release --skip-build
	python3 scripts/readme_sync.py --check
	@python3 -c "import selenium, PIL" 2>/dev/null || python3 -m pip install --quiet selenium pillow
	python3 Tests/Browser/viewer_e2e.py $(FOVEA) --cache "$(CACHE)"

# Fovea against PyTorch CPU (2 threads) in one run; writes bench/results.md.
# The peers: PyTorch, Captum, pytorch-grad-cam, openTSNE, scikit-learn, torch-lucent, horama (MACO) and
# the style computations of scripts/style_torch.py. grad-cam and torchvision are installed
# without their dependencies so that pip keeps the torch already there.
bench: data build
	@python3 -c "import torch" 2>/dev/null || python3 -m pip install --quiet "torch==$(TORCH_CPU)" numpy pillow 2>/dev/null || \
	    python3 -m pip install --quiet torch numpy pillow
	@python3 -c "import openTSNE, sklearn" 2>/dev/null || python3 -m pip install --quiet opentsne scikit-learn
	@python3 -c "import captum, pytorch_grad_cam" 2>/dev/null || { \
	    python3 -m pip install --quiet tqdm matplotlib scikit-learn opencv-python-headless ttach && \
	    python3 -m pip install --quiet --no-deps captum grad-cam "torchvision==$(TORCHVISION)"; }
	python3 scripts/bench.py $(FOVEA) --cache "$(CACHE)"
	@python3 -c "import lucent, horama, kornia" 2>/dev/null || \
	    { python3 -m pip install --quiet einops tqdm matplotlib && \
	      python3 -m pip install --quiet --no-deps torch-lucent==0.1.8 horama==0.3.0 kornia==0.4.1; }
	python3 scripts/bench_synthesis.py $(FOVEA) --cache "$(CACHE)" --maco-flags "--transforms crops:6x224,noise:0.01"
	@python3 -c "import onnx" 2>/dev/null || python3 -m pip install --quiet onnx
	python3 scripts/bench_style.py $(FOVEA) --cache "$(CACHE)"
	python3 scripts/bench_memory.py $(FOVEA) --cache "$(CACHE)"
	@python3 -c "import selenium" 2>/dev/null || python3 -m pip install --quiet selenium
	python3 Tests/Browser/viewer_e2e.py $(FOVEA) --cache "$(CACHE)" --bench bench/results-viewer.md
	python3 scripts/bench_threads.py $(FOVEA) --cache "$(CACHE)" --threads 1,$$(nproc)
	python3 scripts/readme_sync.py

# Redraws every README picture with the commands their captions give, measures the numbers the
# README quotes into bench/results-docs.md, and copies them and the bench results into the
# README (about 30 minutes on 2 cores). `make test` checks the README still matches.
docs: data build
	scripts/make-figures.sh $(FOVEA) "$(CACHE)"
	scripts/make-gallery.sh $(FOVEA)
	scripts/make-style-gallery.sh $(FOVEA) "$(CACHE)"
	@python3 -c "import numpy, scipy, sklearn" 2>/dev/null || python3 -m pip install --quiet numpy scipy scikit-learn
	python3 scripts/readme_sync.py --measure $(FOVEA) --cache "$(CACHE)"

# Regenerates the golden files from PyTorch (needs `pip install torch pillow numpy`), onnxruntime,
# h5py and Keras 3 (on its torch backend). The torchvision, synthetic and training goldens have their own scripts beside them.
golden: data
	python3 Tests/Golden/make_golden.py --cache "$(CACHE)"
	python3 Tests/Golden/make_synthesis_golden.py
	@python3 -c "import onnx, onnxruntime, h5py" 2>/dev/null || python3 -m pip install --quiet onnx onnxruntime h5py
	python3 Tests/Golden/make_onnx_golden.py "$(CACHE)"
	python3 Tests/Golden/make_keras_golden.py "$(CACHE)"
	python3 Tests/Golden/make_exports_golden.py
	@python3 -c "import keras" 2>/dev/null || python3 -m pip install --quiet keras
	KERAS_BACKEND=torch python3 Tests/Golden/make_keras_functional_golden.py
	python3 Tests/Golden/make_style_golden.py --cache "$(CACHE)"

# libFuzzer on every file loader (PNG, JPEG, pickle, safetensors, ONNX, HDF5, .npy, IDX) for
# FUZZ_SECONDS each (default 30); crashes land in .build/fuzz/crashes/.
fuzz: deps
	scripts/fuzz.sh

clean:
	rm -rf .build
