"""Intake's use cases: receiving a submission (`submissions`), polling Open ePlatform
(`open_eplatform`) and re-encrypting stored details under a new key (`submissions`).

They depend on `ports.py`, never on adapters; HTTP and timer use cases open their own unit of
work (`async with uow:` … `await uow.commit()`).
"""
