"""Mean absolute error and RMSE of the scores; write metrics.json."""

import argparse
import csv
import json
import math
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--scores", required=True)
parser.add_argument("--report", required=True)
args = parser.parse_args()

with open(Path(args.scores) / "scores.csv") as fh:
    errors = [float(r["prediction"]) - float(r["y"]) for r in csv.DictReader(fh)]
metrics = {"rows": len(errors), "mae": sum(map(abs, errors)) / len(errors),
           "rmse": math.sqrt(sum(e * e for e in errors) / len(errors))}
(Path(args.report) / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(f"mae={metrics['mae']:.3f} rmse={metrics['rmse']:.3f}")
