"""A SAS token written into a URL never reaches output, the run index, record.json or the spec copy."""

from __future__ import annotations

from pathlib import Path

SIG = "TOPSECRETsig0123456789"
SAS_URL = f"https://acct.blob.core.windows.net/?sv=2022-11-02&ss=b&srt=co&sp=rl&sig={SIG}%3D"


def test_a_sas_token_in_a_datastore_endpoint_is_refused_without_echoing_it(amlrun, write, tmp_path: Path) -> None:
    write("amlrun.yaml", f"""
        datastores:
          lake: {{type: azure_blob, account_name: acct, container_name: raw, endpoint: "{SAS_URL}"}}
        """)
    write("job.yml", "type: command\ncommand: echo hi\n")
    listing = amlrun("datastores")
    run = amlrun("run", "job.yml")
    check = amlrun("check", "--no-sdk", "job.yml")
    for result in (listing, run, check):
        assert result.code == 2, result.text
        assert "amlrun.yaml:2:" in result.err + result.out and "sas_token_env" in result.text
        assert SIG not in result.text


def test_urls_with_sas_tokens_are_scrubbed_from_errors_and_everything_a_run_stores(amlrun, write, store: Path) -> None:
    write("job.yml", """
        type: command
        command: true ${{inputs.url}}
        inputs:
          url: {type: string, default: none}
        """)
    write("blob.yml", f"""
        type: command
        command: ls ${{{{inputs.d}}}}
        inputs:
          d: {{type: uri_folder, path: "https://acct.blob.core.windows.net/raw/x?sv=1&sig={SIG}"}}
        """)
    ran = amlrun("run", "job.yml", "--set", f"inputs.url=https://acct.blob.core.windows.net/raw/x?sv=1&sig={SIG}")
    assert ran.code == 0, ran.text
    refused = amlrun("run", "blob.yml")
    checked = amlrun("check", "--no-sdk", "blob.yml")
    assert refused.code == 1 and checked.code == 0  # check: a note (AzureML resolves it), run: an error
    assert "acct.blob.core.windows.net" in refused.err and "acct.blob.core.windows.net" in checked.text
    for result in (ran, refused, checked):
        assert SIG not in result.text
    leaked = [p for p in store.rglob("*") if p.is_file() and "user_logs" not in p.parts and SIG.encode() in p.read_bytes()]
    assert not leaked, leaked
