"""HTTP routers: parse, call one use case, return."""
