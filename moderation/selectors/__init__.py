"""Reads shaped for pages and endpoints; query counts are decided here."""
