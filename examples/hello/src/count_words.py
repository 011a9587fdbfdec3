"""Count words in a text file and write the most common ones to a report folder."""

import argparse
import collections
import json
import os
import re
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--text", required=True)
parser.add_argument("--top", type=int, default=5)
parser.add_argument("--min-length", type=int, default=1)
parser.add_argument("--report", required=True)
args = parser.parse_args()

print(os.environ.get("GREETING", "hello"))
words = re.findall(r"[a-z']+", Path(args.text).read_text().lower())
counts = collections.Counter(w for w in words if len(w) >= args.min_length)
top = counts.most_common(args.top)
for word, n in top:
    print(f"{word:>10} {n}")
Path(args.report, "top_words.json").write_text(json.dumps(dict(top), indent=2))
print(f"wrote {Path(args.report, 'top_words.json')}")
