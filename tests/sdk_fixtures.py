"""A small project that builds its pipeline in Python with azure-ai-ml: every kind of step the SDK makes.

`make_pipeline()` returns a `@dsl.pipeline` with a `command()` step, a nested `@dsl.pipeline` using a
`load_component()` of a YAML component, and a `parallel_run_function()` step over a folder of 5 files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

BUILD = '''
from pathlib import Path

from azure.ai.ml import Input, Output, command, dsl, load_component
from azure.ai.ml.parallel import RunFunction, parallel_run_function

HERE = Path(__file__).parent
ENV = "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"

prep = command(code=str(HERE / "src"), command="python prep.py --n ${{inputs.n}} --out ${{outputs.out}}",
               inputs={"n": 3}, outputs={"out": Output(type="uri_folder")}, environment=ENV)
count = load_component(str(HERE / "components" / "count.yml"))
score = parallel_run_function(
    name="score", inputs={"files": Input(type="uri_folder")}, outputs={"rows": Output(type="uri_file")},
    input_data="${{inputs.files}}", mini_batch_size="2", instance_count=1, max_concurrency_per_instance=2,
    task=RunFunction(code=str(HERE / "src"), entry_script="score.py", environment=ENV,
                     append_row_to="${{outputs.rows}}"))


@dsl.pipeline(description="count what prep made")
def counting(data: Input(type="uri_folder")):
    counted = count(data=data)
    return {"total": counted.outputs.total}


@dsl.pipeline(default_compute="cpu-cluster")
def training(files: Input(type="uri_folder"), n: int = 4):
    prepared = prep(n=n)
    inner = counting(data=prepared.outputs.out)
    scored = score(files=files)
    return {"total": inner.outputs.total, "rows": scored.outputs.rows}


def make_pipeline():
    return training(files=Input(type="uri_folder", path=str(HERE / "files")))


def remote_pipeline():
    return training(files=Input(type="uri_folder", path="azureml://datastores/workspaceblobstore/paths/files/"))


def broken_pipeline():
    return broken(n=2)


@dsl.pipeline(default_compute="cpu-cluster")
def broken(n: int = 1):
    bad = typo(n=n)
    return {"out": bad.outputs.out}


typo = command(code=str(HERE / "src"), command="python prep.py --n ${{inputs.nn}} --out ${{outputs.out}}",
               inputs={"n": 1}, outputs={"out": Output(type="uri_folder")}, environment=ENV)


def raises():
    raise ValueError("no data for this week")
'''

FILES = {
    "src/prep.py": """
        import argparse, pathlib
        parser = argparse.ArgumentParser()
        parser.add_argument("--n", type=int)
        parser.add_argument("--out")
        args = parser.parse_args()
        pathlib.Path(args.out, "data.txt").write_text("x" * args.n)
    """,
    "src/score.py": """
        import os

        def run(mini_batch):
            return [f"{os.path.basename(path)} {open(path).read().strip()}" for path in mini_batch]
    """,
    "src/count.py": """
        import pathlib, sys
        text = pathlib.Path(sys.argv[1], "data.txt").read_text()
        pathlib.Path(sys.argv[2], "total.txt").write_text(str(len(text)))
    """,
    "components/count.yml": """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: count
        inputs:
          data: {type: uri_folder}
        outputs:
          total: {type: uri_folder}
        code: ../src
        command: python count.py ${{inputs.data}} ${{outputs.total}}
        environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
    """,
    **{f"files/item{i}.txt": f"value{i}" for i in range(5)},
    "pyproject.toml": "",
}


def make_sdk_project(root: Path) -> Path:
    for relative, text in {**FILES, "build.py": BUILD}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root
