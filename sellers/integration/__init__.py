"""The marketplaces plug in: their own systems sync merchants and listings in, and ask before publishing.

- ``accounts``: service accounts per marketplace and their keys (created, issued, revoked; audited);
- ``authentication``: how the integration API knows its caller (a service account's key) and
  the permission that holds it to its marketplace;
- ``events``: a sync batch's events read and checked, each on its own, with DRF-style field errors;
- ``sync``: a batch applied, set-based (``apply_sync_batch``);
- ``check``: the pre-publication check (``check_listing``);
- ``selectors``: what the API reads (retired categories, live policies, a synced listing or merchant);
- ``serializers``, ``views``, ``urls``: the API at ``/api/v1/integration/``.

A service account sees its own marketplace only: another marketplace's object does not exist
for it (a 404, or an event refused as naming no object). Its keys open nothing of the sellers'
API or of the back office, and a seller's key opens nothing here.
"""
