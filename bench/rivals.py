"""`make bench-rivals`: bifrost-py next to LiteLLM's proxy, same mock upstream, same load.

Both gateways forward Anthropic Messages requests (non-streaming and streaming) to one mock
upstream on loopback; wrk drives each at concurrency 1 and 64, in one run. LiteLLM is run from
its own virtualenv (`--litellm PATH/TO/litellm`; the Makefile target creates it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.__main__ import Result, bodies, free_port, gateway_config, start, stop, wait_port, wrk

LITELLM_CONFIG = """model_list:
  - model_name: claude-sonnet-4-20250514
    litellm_params:
      model: anthropic/claude-sonnet-4-20250514
      api_base: http://127.0.0.1:{upstream}
      api_key: sk-bench
"""


def start_litellm(binary: str, workdir: Path, upstream: int) -> tuple[subprocess.Popen[bytes], int]:
    config = workdir / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream=upstream))
    port = free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
    process = subprocess.Popen([binary, "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_port(port, seconds=120)
    time.sleep(2)
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench-rivals")
    parser.add_argument("--litellm", required=True, help="path to the litellm executable")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-rivals-"))
    upstream_port = free_port()
    upstream = start(["mock-upstream", "--port", str(upstream_port)], upstream_port)
    ours_port = free_port()
    ours = start(["serve", "-c", str(gateway_config(workdir, upstream_port, ours_port, plugins=False))], ours_port)
    litellm, litellm_port = start_litellm(args.litellm, workdir, upstream_port)
    try:
        print(f"{'mode':<7}{'conc':>5}  {'gateway':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for stream in (False, True):
            path, body, headers = bodies(stream)
            for concurrency in (1, 64):
                for name, port in (("bifrost-py", ours_port), ("litellm", litellm_port)):
                    r: Result = wrk(f"http://127.0.0.1:{port}{path}", body, headers, concurrency, args.seconds)
                    print(f"{'stream' if stream else 'json':<7}{concurrency:>5}  {name:<12}{r.rps:>9.0f}{r.p50_ms:>9.2f}"
                          f"{r.p99_ms:>9.2f}{r.errors:>8}")
    finally:
        for process in (litellm, ours, upstream):
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
