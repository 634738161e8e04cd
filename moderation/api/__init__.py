"""The sellers' REST API (``/api/v1/``): a merchant's decisions, notices, sanctions, listings and appeals."""
