# Sourced by the other scripts: make (once) and activate .venv with the project and its test tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
        # Debian ships venv separately from python3.
        rm -rf .venv
        if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
        $sudo apt-get update -q && $sudo apt-get install -y -q python3-venv
        python3 -m venv .venv
    fi
fi
. .venv/bin/activate
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)
if [ ! -e "$stamp" ]; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -e '.[test]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
