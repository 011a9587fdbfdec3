"""Distributed command jobs start instance_count x process_count_per_instance processes with the
variables AzureML's launchers set, log per process as the service does, and fail together."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

RENDEZVOUS = """
import os, socket, sys, time

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
print(f"rank={rank} local_rank={os.environ['LOCAL_RANK']} node_rank={os.environ['NODE_RANK']} world={world} "
      f"master={os.environ['AZ_BATCH_MASTER_NODE'] == '%s:%s' % address}")
if rank == 0:  # a tiny all-reduce: rank 0 gathers every rank's value and sends back the sum
    server = socket.create_server(address)
    peers = [server.accept()[0] for _ in range(world - 1)]
    total = sum(int(peer.recv(16)) for peer in peers) + 1
    for peer in peers:
        peer.sendall(str(total).encode())
else:
    for _ in range(200):
        try:
            peer = socket.create_connection(address)
            break
        except OSError:
            time.sleep(0.05)
    peer.sendall(str(rank + 1).encode())
    total = int(peer.recv(16))
print(f"rank={rank} sum={total}")
if rank == 0:
    open("outputs/sum.txt", "w").write(str(total))
"""


def test_a_pytorch_job_runs_every_rank_and_they_meet_at_the_master(amlrun, write, store: Path) -> None:
    write("proj/src/train.py", RENDEZVOUS)
    job = write("proj/ddp.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        code: src
        command: python train.py
        environment: azureml:AzureML-acpt-pytorch-2.8-cuda12.6@latest
        compute: azureml:gpu-cluster
        distribution:
          type: pytorch
          process_count_per_instance: 2
        resources:
          instance_count: 2
    """)
    result = amlrun("run", job, "--name", "ddp1", timeout=180)
    assert result.code == 0, result.text
    logs = store / "runs" / "ddp1" / "user_logs"
    for rank in range(4):
        own = (logs / f"std_log_process_{rank:02d}.txt").read_text()
        assert f"rank={rank} local_rank={rank % 2} node_rank={rank // 2} world=4 master=True" in own, own
        assert f"rank={rank} sum=10" in own
    assert "[rank 3] rank=3 sum=10" in (logs / "std_log.txt").read_text()  # `amlrun logs` shows them all
    artifacts = store / "datastores" / "workspaceartifactstore" / "ExperimentRun" / "dcid.ddp1"
    assert (artifacts / "outputs" / "sum.txt").read_text() == "10"


def test_one_failing_process_fails_the_job_and_stops_the_others(amlrun, write) -> None:
    write("proj/src/flaky.py", """
        import os, sys, time
        if os.environ["RANK"] == "1":
            sys.exit(3)
        time.sleep(60)
    """)
    job = write("proj/flaky.yml", """
        command: python flaky.py
        code: src
        distribution: {type: pytorch, process_count_per_instance: 3}
    """)
    started = time.monotonic()
    result = amlrun("run", job, "--name", "flaky1", timeout=120)
    assert result.code != 0
    assert time.monotonic() - started < 30, "the other processes were left running"
    assert "rank 1 exited with code 3" in result.err
    assert "stopped the other processes: rank 0, rank 2" in result.err
    assert "rank 1 exited with code 3" in amlrun("show", "flaky1").out


def test_mpi_and_tensorflow_jobs_get_their_launchers_variables(amlrun, write, store: Path) -> None:
    write("proj/src/show_env.py", """
        import json, os
        keys = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                "OMPI_COMM_WORLD_LOCAL_SIZE", "AZ_BATCH_MASTER_NODE", "TF_CONFIG")
        print(json.dumps({k: os.environ.get(k) for k in keys}))
    """)
    mpi = write("proj/mpi.yml", """
        command: python show_env.py
        code: src
        distribution: {type: mpi, process_count_per_instance: 2}
        resources: {instance_count: 1}
    """)
    # another MPI's mpirun (MPICH's Hydra) takes other flags: amlrun starts the processes itself, and says so
    write("bin/mpirun", "#!/bin/sh\necho 'HYDRA build details:'\n").chmod(0o755)
    path = f"{mpi.parents[1] / 'bin'}{os.pathsep}{os.environ['PATH']}"
    started = amlrun("run", mpi, "--name", "mpi1", env={"PATH": path})
    assert started.code == 0, started.text
    assert "mpirun (Open MPI) is not installed here: amlrun starts the 2 MPI processes itself" in started.err
    for rank in range(2):
        seen = json.loads((store / "runs" / "mpi1" / "user_logs" / f"std_log_process_{rank:02d}.txt").read_text())
        assert seen["OMPI_COMM_WORLD_RANK"] == str(rank) and seen["OMPI_COMM_WORLD_SIZE"] == "2"
        assert seen["OMPI_COMM_WORLD_LOCAL_RANK"] == str(rank) and seen["OMPI_COMM_WORLD_LOCAL_SIZE"] == "2"
        assert seen["AZ_BATCH_MASTER_NODE"].startswith("127.0.0.1:") and seen["TF_CONFIG"] is None

    tf = write("proj/tf.yml", """
        command: python show_env.py
        code: src
        resources: {instance_count: 2}
        distribution: {type: tensorflow, worker_count: 2, parameter_server_count: 1}
    """)
    assert amlrun("run", tf, "--name", "tf1").code == 0
    logs = store / "runs" / "tf1" / "user_logs"
    configs = {name: json.loads(json.loads((logs / f"std_log_node_{name}.txt").read_text())["TF_CONFIG"])
               for name in ("00_worker", "01_worker", "00_ps")}
    assert configs["01_worker"]["task"] == {"type": "worker", "index": 1}
    assert configs["00_ps"]["task"] == {"type": "ps", "index": 0}
    cluster = configs["00_worker"]["cluster"]
    assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1 and len(set(cluster["worker"] + cluster["ps"])) == 3
    assert all(c["cluster"] == cluster for c in configs.values())


ALLREDUCE = """
import os, sys
from mpi4py import MPI

world = MPI.COMM_WORLD
total = world.allreduce(world.Get_rank() + 1)  # a real MPI collective: every rank must take part
rank, size = os.environ["OMPI_COMM_WORLD_RANK"], os.environ["OMPI_COMM_WORLD_SIZE"]
print(f"rank={rank} size={size} mpi_rank={world.Get_rank()} mpi_size={world.Get_size()} sum={total} "
      f"master={os.environ['AZ_BATCH_MASTER_NODE'].split(':')[0]} out={sys.argv[1]}")
open(os.path.join(sys.argv[1], f"rank_{rank}.txt"), "w").write(f"{rank}/{size} sum={total}")
if rank == os.environ.get("FAIL_RANK"):
    sys.exit(5)
"""


def test_an_mpi_job_runs_through_mpirun_and_every_rank_meets_the_others(amlrun, write, store: Path) -> None:
    if not shutil.which("mpirun"):
        pytest.skip("mpirun (Debian openmpi-bin) is not installed")
    write("proj/src/allreduce.py", ALLREDUCE)
    job = write("proj/mpi.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        type: command
        code: src
        command: python allreduce.py ${{outputs.ranks}}
        outputs:
          ranks: {type: uri_folder}
        environment: azureml:AzureML-tensorflow-2.16-cuda12@latest
        compute: azureml:gpu-cluster
        distribution:
          type: mpi
          process_count_per_instance: 2
        resources:
          instance_count: 2
    """)
    result = amlrun("run", job, "--name", "mpi4", timeout=180)
    assert result.code == 0, result.text
    ranks = next((store / "datastores").rglob("mpi4/ranks"))
    assert sorted(p.read_text() for p in ranks.iterdir()) == [f"{r}/4 sum=10" for r in range(4)]
    logs = store / "runs" / "mpi4" / "user_logs"
    for rank in range(4):
        own = (logs / f"std_log_process_{rank:02d}.txt").read_text()
        assert f"rank={rank} size=4 mpi_rank={rank} mpi_size=4 sum=10 master=127.0.0.1" in own, own
    assert "[rank 2] rank=2 size=4" in (logs / "std_log.txt").read_text()

    failing = amlrun("run", job, "--name", "mpi4fail", "--set", "environment_variables.FAIL_RANK=1", timeout=180)
    assert failing.code != 0
    assert "rank 1 exited with code 5 (log: user_logs/std_log_process_01.txt)" in failing.err, failing.text
    assert "rank 1 exited with code 5" in amlrun("show", "mpi4fail").out
