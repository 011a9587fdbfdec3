"""How the service counts a parallel step's failures, in a job shaped like azureml-examples'
parallel/1a_oj_sales_prediction (many models: one model per partition, `run()` returns `[]`).

A `run()` that returns fewer items than it got fails those items (counted against `error_threshold`,
-1 ignores them); the mini-batch itself was processed. A mini-batch fails, for
`mini_batch_error_threshold`, when `run()` raises (after its retries) or times out.
"""

from __future__ import annotations

from pathlib import Path

WORKSPACE = "workspaceblobstore"

PARTITION = """
    import argparse, os
    import pandas as pd
    import yaml
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_source")
    parser.add_argument("--partition_keys")
    parser.add_argument("--tabular_output_data")
    args, _ = parser.parse_known_args()
    frame = pd.read_csv(args.data_source)
    keys = args.partition_keys.split(",")
    for values, group in frame.groupby(keys):
        folder = os.path.join(args.tabular_output_data, *[str(v) for v in values])
        os.makedirs(folder, exist_ok=True)
        group.drop(columns=keys).to_csv(os.path.join(folder, "partitioned_data.csv"), index=False)
    spec = {"type": "mltable", "paths": [{"pattern": "./**/*.csv"}],
            "transformations": [
                {"read_delimited": {"delimiter": ",", "encoding": "ascii", "header": "all_files_same_headers",
                                    "empty_as_string": False, "include_path_column": True}},
                {"extract_columns_from_partition_format": {
                    "partition_format": "".join("{" + k + "}/" for k in keys) + "{file_name}.{extension}"}},
                {"drop_columns": ["Path", "file_name", "extension"]}]}
    with open(os.path.join(args.tabular_output_data, "MLTable"), "w") as f:
        yaml.dump(spec, f)
"""

# Like 1a's parallel_train.py: one "model" per partition into --model_folder, nothing returned.
TRAIN = """
    import argparse, os
    def init():
        global args
        parser = argparse.ArgumentParser()
        parser.add_argument("--target_col")
        parser.add_argument("--model_folder")
        parser.add_argument("--raise_for", default="")
        args, _ = parser.parse_known_args()
    def run(input_data, mini_batch_context):
        key = mini_batch_context.partition_key_value
        if f"{key['Store']}/{key['Brand']}" == args.raise_for:
            raise ValueError(f"cannot train {args.raise_for}")
        folder = os.path.join(args.model_folder, *[str(v) for v in key.values()])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "model.txt"), "w") as fh:
            fh.write(str(int(input_data[args.target_col].sum())))
        return []
"""

PIPELINE = """
    type: pipeline
    settings:
      default_compute: azureml:cpu-cluster
    jobs:
      partition_job:
        type: command
        component: ./src/partition_data/partition_data.yml
        inputs:
          data_source: {type: uri_file, path: ./oj_sales_data/oj_sales_data.csv}
          partition_keys: Store,Brand
        outputs:
          tabular_output_data: {type: mltable, mode: rw_mount}
      parallel_train:
        type: parallel
        compute: azureml:cpu-cluster
        inputs:
          data_source:
            path: ${{parent.jobs.partition_job.outputs.tabular_output_data}}
            type: mltable
            mode: direct
          target_col: Quantity
        outputs:
          model_folder: {type: uri_folder, mode: rw_mount}
        partition_keys: [Store, Brand]
        resources:
          instance_count: 2
        error_threshold: -1
        mini_batch_error_threshold: 1
        input_data: ${{inputs.data_source}}
        max_concurrency_per_instance: 1
        retry_settings:
          max_retries: 1
          timeout: 60
        task:
          type: run_function
          code: ./src/parallel_train
          entry_script: parallel_train.py
          program_arguments: >-
            --target_col ${{inputs.target_col}}
            --model_folder ${{outputs.model_folder}}
"""


def _project(write) -> Path:
    rows = ["WeekStarting,Store,Brand,Quantity,Advert"]
    rows += [f"1990-06-{14 + week},{store_id},{brand},{100 * store_id + week},1"
             for store_id in (1000, 1001) for brand in ("tropicana", "dominicks") for week in range(3)]
    write("oj/oj_sales_data/oj_sales_data.csv", "\n".join(rows) + "\n")
    write("oj/src/partition_data/partition_data.py", PARTITION)
    write("oj/src/partition_data/partition_data.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: partition_data
        version: 1
        inputs:
          data_source: {type: uri_file}
          partition_keys: {type: string}
        outputs:
          tabular_output_data: {type: mltable}
        code: ./
        command: >-
          python partition_data.py --data_source ${{inputs.data_source}}
          --partition_keys ${{inputs.partition_keys}} --tabular_output_data ${{outputs.tabular_output_data}}
    """)
    write("oj/src/parallel_train/parallel_train.py", TRAIN)
    return write("oj/pipeline.yml", PIPELINE)


def test_empty_returns_per_partition_complete_but_a_raising_run_counts_against_mini_batch_error_threshold(
        amlrun, write, store: Path) -> None:
    job = _project(write)
    result = amlrun("run", job, "--name", "oj_empty", timeout=240)
    assert result.code == 0, result.text  # 4 partitions returned [], mini_batch_error_threshold is 1
    models = sorted(p.parent.relative_to(p.parents[2]).as_posix()
                    for p in (store / "datastores" / WORKSPACE).rglob("model.txt"))
    assert models == ["1000/dominicks", "1000/tropicana", "1001/dominicks", "1001/tropicana"]
    assert "4/4 mini-batches, 12 items failed" in amlrun("show", "oj_empty").out  # the pipeline's step list
    shown = amlrun("show", "oj_empty", "--step", "parallel_train")
    assert shown.code == 0, shown.text
    assert "mini-batches: 4 total, 4 succeeded, 0 failed" in shown.out, shown.out
    assert "items:     12 processed, 0 succeeded, 12 failed" in shown.out, shown.out
    assert "4 mini-batches returned fewer items from run() than they got" in shown.out
    assert "error_threshold=-1: failed items are not checked" in shown.out
    assert "failed mini-batches" not in shown.out  # none failed: nothing to list

    # the same job whose run() raises for one partition: that mini-batch fails (after its retry)
    raising = ("jobs.parallel_train.task.program_arguments=--target_col Quantity "
               "--model_folder ${{outputs.model_folder}} --raise_for 1001/dominicks")
    strict = amlrun("run", job, "--name", "oj_raise", "--set", raising,
                    "--set", "jobs.parallel_train.mini_batch_error_threshold=0", timeout=240)
    assert strict.code == 1, strict.text
    shown = amlrun("show", "oj_raise", "--step", "parallel_train").out
    assert "more than mini_batch_error_threshold=0" in shown, shown
    assert "failed mini-batches (1):" in shown and "#" in shown and "(2 attempts): Store=1001, Brand=dominicks" in shown
    assert "ValueError: cannot train 1001/dominicks" in shown
