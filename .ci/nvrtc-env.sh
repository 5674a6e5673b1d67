#!/usr/bin/env bash
# Makes NVRTC (CUDA 13) available without a CUDA toolkit: installs the PyPI wheel
# `nvidia-cuda-nvrtc` into <repo>/.nvrtc (once) and exports LD_LIBRARY_PATH so that cudarc's
# dynamic loading finds libnvrtc.so.13, and libnvrtc finds libnvrtc-builtins next to it.
#
#   source .ci/nvrtc-env.sh          # exports into the current shell
#   eval "$(bash .ci/nvrtc-env.sh)"  # same, from a script; running it prints the export line
#
# LBM_NVRTC_PIP_SPEC overrides the requirement. The default is the oldest CUDA 13 release
# line on purpose: PTX from a newer NVRTC carries a newer PTX ISA version, which a GPU
# driver older than that NVRTC refuses to load (CUDA_ERROR_UNSUPPORTED_PTX_VERSION), while
# 13.0 PTX loads on every CUDA 13 driver.
#
# Written to be sourced: no `set -e`, nothing leaks into the caller's shell but
# LD_LIBRARY_PATH, and failures return instead of exiting.

_lbm_nvrtc_env() {
    local root dir spec stamp libdir
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    dir="$root/.nvrtc"
    spec="${LBM_NVRTC_PIP_SPEC:-nvidia-cuda-nvrtc==13.0.*}"
    stamp="$dir/.lbm-pip-spec"

    # Reinstall only when the requirement changed, so sourcing it again is instant.
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$spec" ]]; then
        rm -rf "$dir"
        echo "nvrtc-env: pip install --target $dir $spec" >&2
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$dir" "$spec" >&2 || {
            echo "nvrtc-env: pip install failed" >&2
            return 1
        }
        printf '%s' "$spec" >"$stamp"
    fi

    # The CUDA 13 wheels put the libraries under nvidia/cu13/lib; older ones used
    # nvidia/cuda_nvrtc/lib. Search rather than hard-code either.
    libdir="$(find "$dir" -name 'libnvrtc.so*' ! -name '*builtins*' ! -name '*.alt.*' \
        -printf '%h\n' 2>/dev/null | sort | head -n 1)"
    if [[ -z "$libdir" ]]; then
        echo "nvrtc-env: no libnvrtc.so* under $dir" >&2
        return 1
    fi

    case ":${LD_LIBRARY_PATH:-}:" in
    *":$libdir:"*) ;;
    *) export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
    echo "export LD_LIBRARY_PATH=\"$LD_LIBRARY_PATH\""
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    # Run as a program: print the export line for `eval`, fail loudly.
    _lbm_nvrtc_env || exit 1
else
    # Sourced: the export already happened; keep stdout quiet.
    _lbm_nvrtc_env >/dev/null
fi
unset -f _lbm_nvrtc_env
