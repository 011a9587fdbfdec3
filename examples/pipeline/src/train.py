"""Fit y = w*x + b by gradient descent; write the model as JSON."""

import argparse
import csv
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--learning-rate", type=float, required=True)
parser.add_argument("--model", required=True)
args = parser.parse_args()

with open(args.data) as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
w = b = 0.0
for epoch in range(args.epochs):
    gw = sum((w * x + b - y) * x for x, y in rows) * 2 / len(rows)
    gb = sum((w * x + b - y) for x, y in rows) * 2 / len(rows)
    w -= args.learning_rate * gw
    b -= args.learning_rate * gb
    if epoch % 50 == 0:
        print(f"epoch {epoch}: w={w:.3f} b={b:.3f}")
Path(args.model).mkdir(parents=True, exist_ok=True)
(Path(args.model) / "model.json").write_text(json.dumps({"w": w, "b": b}))
print(f"trained on {len(rows)} rows: w={w:.3f} b={b:.3f}")
