#!/bin/sh
echo "the project's virtual environment .venv/ is missing: run scripts/setup.sh" >&2
exit 1
