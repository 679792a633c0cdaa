#!/usr/bin/env bash
# Prints the directory where the install scripts put the servers they build (Jaeger,
# rnacos): $TIANSHU_TOOLS, or tianshu/tools under the user's cache directory. It lies
# outside the checkout so that every clone on a machine (CI's included) reuses one build;
# internal/testenv.ToolsDir finds the same directory.
set -euo pipefail
echo "${TIANSHU_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/tianshu/tools}"
