"""The back office's pages, one module per area; thin: parse, check the role, call a service, render."""
