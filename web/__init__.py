"""arsip's web view and HTTP API (``arsip serve``): a Starlette app over ``storage``'s queries."""
