#!/usr/bin/env bash
# Rebuilds the builder bundle and the vendored htmx and uPlot from the lock file and fails if
# the committed files differ, so a change to frontend/builder/src cannot land without its built
# bundle.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
npm run --silent test
cd ../..
vendored=(src/terminflow/web/static/web/htmx.min.js src/terminflow/web/static/web/uplot.min.js
  src/terminflow/web/static/web/uplot.min.css src/terminflow/web/static/web/uplot.LICENSE.txt)
git diff --exit-code --stat -- src/terminflow/web/static/builder "${vendored[@]}"
untracked=$(git ls-files --others --exclude-standard -- src/terminflow/web/static/builder "${vendored[@]}")
if [ -n "$untracked" ]; then
  echo "Built files not committed: $untracked" >&2
  exit 1
fi
echo "builder bundle is up to date"
