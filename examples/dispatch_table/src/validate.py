"""Entry script: fetch the three recordings of each dispatch-table row, run the validation tool on them.

Each URI names a file in one of three datastores (`azureml://datastores/<store>/paths/<file>`). The
job mounts each store's root as an input and passes it as `--store <name>=<folder>`, so the same
script runs in AzureML (mounted datastores) and locally (three local folders).
"""

import argparse
import shutil
import subprocess
from pathlib import Path

from azureml_user.parallel_run import EntryScript

TOOL = Path(__file__).resolve().parent / "tools" / "validate_sequence.sh"


def init():
    global stores, logger, scratch
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", action="append", default=[], help="name=mounted folder")
    args, _ = parser.parse_known_args()  # the service adds its own flags to sys.argv too
    stores = dict(item.split("=", 1) for item in args.store)
    entry = EntryScript()
    logger = entry.logger
    scratch = Path(entry.working_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    logger.info("stores: %s", stores)


def fetch(uri: str, target: Path) -> Path:
    """Copy `azureml://datastores/<store>/paths/<path>` from its mounted store into `target`."""
    prefix = "azureml://datastores/"
    if not uri.startswith(prefix):
        raise ValueError(f"not a datastore URI: {uri}")
    store, _, path = uri[len(prefix):].partition("/paths/")
    local = target / Path(path).name
    shutil.copyfile(Path(stores[store]) / path, local)
    return local


def run(mini_batch):
    results = []
    for row in mini_batch.itertuples(index=False):
        folder = scratch / row.sequence_id
        folder.mkdir(exist_ok=True)
        files = [fetch(uri, folder) for uri in (row.camera_uri, row.lidar_uri, row.radar_uri)]
        verdict = subprocess.run(["bash", str(TOOL), row.sequence_id, *map(str, files)],
                                 capture_output=True, text=True, timeout=60)
        results.append(f"{row.sequence_id} {verdict.stdout.strip()}")
        logger.info("%s -> exit %s", row.sequence_id, verdict.returncode)
        shutil.rmtree(folder)
    return results
