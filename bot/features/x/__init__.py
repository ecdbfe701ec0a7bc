"""X: the OAuth 2.0 client, accounts and tokens, the link pages and the refresh job."""
