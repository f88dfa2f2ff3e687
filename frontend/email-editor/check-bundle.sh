#!/usr/bin/env bash
# Rebuilds the email editor bundle from the lock file, runs its tests, and fails if the
# committed files differ, so a change to frontend/email-editor/src cannot land without its bundle.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
npm run --silent test
cd ../..
git diff --exit-code --stat -- src/terminflow/web/static/email-editor
untracked=$(git ls-files --others --exclude-standard -- src/terminflow/web/static/email-editor)
if [ -n "$untracked" ]; then
  echo "Built files not committed: $untracked" >&2
  exit 1
fi
echo "email editor bundle is up to date"
