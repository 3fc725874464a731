# Sourced by the project's scripts: where LibTorch comes from when building.
# A user who has set LIBTORCH keeps it; otherwise the PyTorch wheel in the project's .venv.
IAEMU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_VERSION=2.13.0
if [ -z "${LIBTORCH:-}" ]; then
    export VIRTUAL_ENV="$IAEMU_ROOT/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    export LIBTORCH_USE_PYTORCH=1
fi
