#!/usr/bin/env bash
# The validation tool shipped with the job: checks that the three recordings of one sequence
# exist, are not empty and all belong to the sequence. Prints one verdict line; exit 0 = valid.
set -u
sequence="$1"; shift
frames=""
for file in "$@"; do
  if [ ! -s "$file" ]; then echo "FAIL missing-or-empty $(basename "$file")"; exit 1; fi
  header=$(head -n 1 "$file")
  case "$header" in
    "# sequence $sequence "*) ;;
    *) echo "FAIL wrong-sequence $(basename "$file") (${header#\# })"; exit 1 ;;
  esac
  frames="$frames $(($(wc -l < "$file") - 1))"
done
echo "OK frames:${frames# }"
