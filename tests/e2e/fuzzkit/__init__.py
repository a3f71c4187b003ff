"""What the fuzz test (tests/e2e/test_fuzz.py), the fault matrix (tests/e2e/test_upstream_faults.py)
and `make fuzz` (bench/fuzz.py) share:

    client   a raw HTTP/1.1 client that sends any header bytes and shows how an answer was framed
    world    the gateway's configuration (governance, cost log, providers) and the audit afterwards
    cases    hypothesis strategies for whole requests
    verdict  what every answer must be
    run      one fuzz session: servers on a loop of their own, the record of what came back
"""
