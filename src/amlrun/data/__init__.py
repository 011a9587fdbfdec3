"""Data for local runs: datastores, URIs, input modes, outputs.

    uris.py        parse azureml://, wasbs://, abfss://, https:// and azureml:<asset> forms (no I/O)
    datastores.py  local folders and blob containers built from amlrun.yaml; secrets stay in env vars
    locations.py   DataContext: resolve a URI to a Location; the map handed to step processes
    staging.py     materialize_input / prepare_output: the input modes and staged outputs
    cache.py       the content-addressed object cache shared by runs, with LRU eviction
    transfer.py    concurrent fetches into the cache and uploads
    progress.py    progress bars and summary lines for transfers
    mltable.py     MLTable files whose paths name datastores, rewritten to local paths
    stepenv.py     PYTHONPATH + env so `azureml://` works with fsspec inside a step (stepsite/ shim)
    listing.py     `amlrun datastores`
"""
