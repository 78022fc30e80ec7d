#!/usr/bin/env bash
# The repair step of action.yml: repair the enhanced JSONL files, then render each one's markdown digest
# (DATE.md beside it) again when there is one. Reads its settings from the environment, as upstream's
# run.yml passes them: LANGUAGE, MODEL_NAME, OPENAI_BASE_URL, OPENAI_API_KEY, CATEGORIES, and PATHS,
# CONTENT_CHECK_URL, REPORT, CACHE, RESUMMARIZE (the command), GITHUB_OUTPUT.
set -euo pipefail
resummarize="${RESUMMARIZE:-resummarize}"
output="${GITHUB_OUTPUT:-/dev/null}"
export LANGUAGE="${LANGUAGE:-Chinese}"

shopt -s nullglob
if [ -n "${PATHS:-}" ]; then
  read -r -a patterns <<< "$PATHS"
else
  patterns=("data/*_AI_enhanced_${LANGUAGE}.jsonl")
fi
files=()
for pattern in "${patterns[@]}"; do
  # shellcheck disable=SC2206  # the patterns are globs, expanded here on purpose
  matches=($pattern)
  files+=("${matches[@]}")
done
if [ ${#files[@]} -eq 0 ]; then
  echo "resummarize: no file matches ${patterns[*]}; nothing to repair"
  echo "code=0" >> "$output"
  exit 0
fi

args=(repair "${files[@]}")
if [ -n "${REPORT:-}" ]; then args+=(--report "$REPORT"); fi
if [ -n "${CACHE:-}" ]; then args+=(--cache "$CACHE"); fi
if [ -n "${CONTENT_CHECK_URL:-}" ]; then args+=(--content-check "$CONTENT_CHECK_URL"); fi

code=0
"$resummarize" "${args[@]}" || code=$?
echo "code=$code" >> "$output"
case "$code" in
  0) ;;
  1) echo "::warning title=resummarize::some entries are still broken; the next run asks for them again" ;;
  *) exit "$code" ;;  # 2: bad input or options, 3: bad key, model or quota, 130: cancelled
esac

for file in "${files[@]}"; do
  day="$(basename "$file")"
  markdown="$(dirname "$file")/${day%%_AI_enhanced_*}.md"
  if [ -f "$markdown" ]; then
    "$resummarize" render "$file" -o "$markdown"
  fi
done
