"""Every state change of the enforcement side, one function per business action.

Modules by domain; import from them directly (``from moderation.services.audit import …``).
"""
