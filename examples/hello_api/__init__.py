"""A small "hello" REST API protected by stepauth's tokens, both ways (see README)."""
