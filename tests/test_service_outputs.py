"""Outputs and bindings as the service shapes them, in jobs shaped like the public examples.

- `uri_file` outputs are files: `${{outputs.x}}` is a file path, an explicit `path:` names the file,
  a downstream input gets that file, `append_row_to` writes it.
- a `mode: direct` mltable input bound to an upstream command step's output feeds a parallel step
  with `partition_keys`.
"""

from __future__ import annotations

from pathlib import Path

WORKSPACE = "workspaceblobstore"


def test_a_uri_file_pipeline_output_with_a_file_path_is_written_as_that_file_and_read_downstream(
        amlrun, write, store: Path) -> None:
    job = write("proj/file_output.yml", """
        type: pipeline
        outputs:
          greeting:
            type: uri_file
            path: azureml://datastores/workspaceblobstore/paths/${{name}}/hello_world.txt
            mode: rw_mount
        jobs:
          hello:
            command: echo "hello" && echo "world" > ${{outputs.greeting}}
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            outputs:
              greeting: ${{parent.outputs.greeting}}
          shout:
            command: test -f ${{inputs.text}} && tr a-z A-Z < ${{inputs.text}} > ${{outputs.loud}}
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            inputs:
              text: ${{parent.jobs.hello.outputs.greeting}}
            outputs:
              loud:
                type: uri_file
    """)
    result = amlrun("run", job, "--name", "filepipe")
    assert result.code == 0, result.text
    written = store / "datastores" / WORKSPACE / "filepipe" / "hello_world.txt"
    assert written.is_file() and written.read_text() == "world\n"
    loud = [p for p in (store / "datastores" / WORKSPACE / "azureml" / "filepipe_shout").rglob("*") if p.is_file()]
    assert [p.read_text() for p in loud] == ["WORLD\n"]


def test_a_uri_file_output_without_a_path_is_a_file_named_after_the_output(amlrun, write, store: Path) -> None:
    """The service mounts such an output's folder and names the file after the output: a job sees
    `.../wd/<output>/<output>` (reported in getindata/kedro-azureml#70), stored under the documented default
    folder `azureml/<run>/<output>/`."""
    write("proj/data/lines.txt", "a\nb\nc\n")
    job = write("proj/count.yml", """
        type: pipeline
        jobs:
          count:
            command: >-
              test -d "$(dirname ${{outputs.line_count}})" && test ! -e ${{outputs.line_count}}
              && basename ${{outputs.line_count}} && wc -l < ${{inputs.text}} > ${{outputs.line_count}}
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            inputs:
              text: {type: uri_file, path: ./data/lines.txt}
            outputs:
              line_count:
                type: uri_file
          report:
            command: test -f ${{inputs.n}} && echo "lines=$(cat ${{inputs.n}})"
            environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
            inputs:
              n: ${{parent.jobs.count.outputs.line_count}}
    """)
    result = amlrun("run", job, "--name", "counted")
    assert result.code == 0, result.text
    assert "count | line_count" in result.out and "report | lines=3" in result.out
    written = store / "datastores" / WORKSPACE / "azureml" / "counted_count" / "line_count"
    assert sorted(p.name for p in written.iterdir()) == ["line_count"]
    assert (written / "line_count").read_text().strip() == "3"


def test_append_row_to_a_uri_file_pipeline_output_writes_that_file(amlrun, write, store: Path) -> None:
    for i in range(4):
        write(f"proj/images/img_{i}.txt", f"pixel {i}\n")
    write("proj/score/score.py", """
        import os
        def init():
            pass
        def run(mini_batch):
            return [f"{os.path.basename(p)},{open(p).read().split()[1]}" for p in mini_batch]
    """)
    job = write("proj/batch.yml", """
        type: pipeline
        outputs:
          predictions:
            type: uri_file
            path: azureml://datastores/${{default_datastore}}/paths/${{name}}/aggregated_returns.csv
        jobs:
          predict:
            type: parallel
            inputs:
              images: {type: uri_folder, path: ./images}
            outputs:
              job_output_file: ${{parent.outputs.predictions}}
            input_data: ${{inputs.images}}
            mini_batch_size: "2"
            task:
              type: run_function
              code: ./score
              entry_script: score.py
              append_row_to: ${{outputs.job_output_file}}
    """)
    result = amlrun("run", job, "--name", "rows1")
    assert result.code == 0, result.text
    target = store / "datastores" / WORKSPACE / "rows1" / "aggregated_returns.csv"
    assert target.is_file(), sorted(str(p) for p in (store / "datastores").rglob("*"))
    assert sorted(target.read_text().splitlines()) == [f"img_{i}.txt,{i}" for i in range(4)]


def test_a_direct_mltable_written_by_a_command_step_feeds_a_partitioned_parallel_step(
        amlrun, write, store: Path) -> None:
    rows = ["WeekStarting,Store,Brand,Quantity"]
    rows += [f"1990-06-{14 + week},{store_id},{brand},{100 * store_id + week}"
             for store_id in (1, 2) for brand in ("tropicana", "dominicks") for week in range(3)]
    write("proj/sales/sales.csv", "\n".join(rows) + "\n")
    write("proj/partition/partition.py", """
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
                    {"read_delimited": {"delimiter": ",", "encoding": "ascii",
                                        "header": "all_files_same_headers", "include_path_column": True}},
                    {"extract_columns_from_partition_format": {
                        "partition_format": "".join("{" + k + "}/" for k in keys) + "{file_name}.{extension}"}},
                    {"drop_columns": ["Path", "file_name", "extension"]}]}
        with open(os.path.join(args.tabular_output_data, "MLTable"), "w") as f:
            yaml.dump(spec, f)
    """)
    write("proj/partition/partition.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: partition_data
        inputs:
          data_source: {type: uri_file}
          partition_keys: {type: string}
        outputs:
          tabular_output_data: {type: mltable}
        code: ./
        command: >-
          python partition.py --data_source ${{inputs.data_source}}
          --partition_keys ${{inputs.partition_keys}} --tabular_output_data ${{outputs.tabular_output_data}}
    """)
    write("proj/train/train.py", """
        import argparse
        def init():
            global direct_uri
            parser = argparse.ArgumentParser()
            parser.add_argument("--data_uri")
            direct_uri = parser.parse_known_args()[0].data_uri
        def run(frame, context):
            key = context.partition_key_value
            assert direct_uri.startswith("azureml://"), direct_uri
            return [f"{key['Store']}-{key['Brand']}:{int(q)}" for q in frame["Quantity"]]
    """)
    job = write("proj/pipeline.yml", """
        type: pipeline
        jobs:
          partition_job:
            type: command
            component: ./partition/partition.yml
            inputs:
              data_source: {type: uri_file, path: ./sales/sales.csv}
              partition_keys: Store,Brand
            outputs:
              tabular_output_data: {type: mltable, mode: rw_mount}
          parallel_train:
            type: parallel
            inputs:
              data_source:
                path: ${{parent.jobs.partition_job.outputs.tabular_output_data}}
                type: mltable
                mode: direct
            outputs:
              scores: {type: uri_file}
            partition_keys: [Store, Brand]
            input_data: ${{inputs.data_source}}
            max_concurrency_per_instance: 2
            task:
              type: run_function
              code: ./train
              entry_script: train.py
              program_arguments: --data_uri ${{inputs.data_source}}
              append_row_to: ${{outputs.scores}}
    """)
    result = amlrun("run", job, "--name", "oj1", timeout=240)
    assert result.code == 0, result.text
    assert "4/4 mini-batches" in result.err or "4 mini-batches" in result.err, result.err
    scores = [p for p in (store / "datastores" / WORKSPACE / "azureml" / "oj1_parallel_train").rglob("*")
              if p.is_file()]
    lines = sorted(line for p in scores for line in p.read_text().splitlines())
    expected = sorted(f"{s}-{b}:{100 * s + w}" for s in (1, 2) for b in ("tropicana", "dominicks") for w in range(3))
    assert lines == expected
