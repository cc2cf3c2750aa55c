"""Baseline (a): the official `hubspot-api-client` v4 `batch_api.archive` in a loop over chunks.

Retry as the SDK README documents it: a urllib3 `Retry` passed to `HubSpot(retry=...)`, here
with 429 in `status_forcelist` and POST added to `allowed_methods` (urllib3 does not retry POST
by default, which is what trips most SDK users). The API object is built once, as a careful user
does; `client.crm...batch_api` in the loop would build a new connection pool per chunk.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import FROM_TYPE, TO_TYPE, chunks, emit, read_pairs, rss_kb
from bench.runners.args import parse


def run(url: str, token: str, pairs_path: Any, batch_size: int) -> dict[str, Any]:
    from hubspot import HubSpot
    from hubspot.crm.associations.v4 import (
        BatchInputPublicAssociationMultiArchive,
        PublicAssociationMultiArchive,
        PublicObjectId,
    )
    from urllib3.util.retry import Retry

    retry = Retry(
        total=10,
        status_forcelist=(429,),
        allowed_methods=frozenset({"POST"}),
        backoff_factor=0.5,
        respect_retry_after_header=True,
    )
    client = HubSpot(access_token=token, retry=retry, host=url)
    batch_api = client.crm.associations.v4.batch_api
    batches = failed_batches = failed_pairs = pairs = 0
    errors: dict[str, int] = {}
    rss_before = rss_kb()
    started = time.perf_counter()
    for chunk in chunks(read_pairs(pairs_path), batch_size):
        batches += 1
        pairs += len(chunk)
        body = BatchInputPublicAssociationMultiArchive(
            inputs=[
                PublicAssociationMultiArchive(_from=PublicObjectId(id=f), to=[PublicObjectId(id=t)])
                for f, t in chunk
            ]
        )
        try:
            batch_api.archive(FROM_TYPE, TO_TYPE, batch_input_public_association_multi_archive=body)
        except Exception as error:  # the SDK raises ApiException or urllib3's MaxRetryError
            failed_batches += 1
            failed_pairs += len(chunk)
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
    wall = time.perf_counter() - started
    return {
        "client": "sdk",
        "wall_s": wall,
        "pairs": pairs,
        "batches": batches,
        "failed_batches": failed_batches,
        "failed_pairs": failed_pairs,
        "errors": errors,
        "rss_before_kb": rss_before,
    }


def main() -> None:
    args = parse(__doc__ or "")
    emit(run(args.url, args.token, args.pairs, args.batch_size))


if __name__ == "__main__":
    main()
