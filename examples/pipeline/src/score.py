"""Apply the model to held-out rows; write one prediction per row."""

import argparse
import csv
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--data", required=True)
parser.add_argument("--scores", required=True)
args = parser.parse_args()

model = json.loads((Path(args.model) / "model.json").read_text())
out = Path(args.scores) / "scores.csv"
with open(args.data) as fh, open(out, "w", newline="") as dst:
    writer = csv.writer(dst)
    writer.writerow(["x", "y", "prediction"])
    count = 0
    for row in csv.DictReader(fh):
        x = float(row["x"])
        writer.writerow([x, row["y"], round(model["w"] * x + model["b"], 4)])
        count += 1
print(f"scored {count} rows")
